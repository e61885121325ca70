// Package simse is the simulated Support Element, the gateway's default
// backend. It serves a small part of the HMC Web Services API over an
// inventory of CPCs, their logical partitions (classic mode) and
// partitions (DPM mode), and runs every operation as a job in the job
// registry that ends after a set time on the injected clock. So the gateway
// has jobs to serve with no hardware at hand, and its tests never sleep.
//
// Requests arrive HWIREST-style through Invoke as a bcpii.OperationRequest:
// owner, target name, method, URI and body. The SE serves the routes of
// bcpii's route table (all but Query API Version, the gateway's own),
// matched with bcpii.MatchOperation:
//
//	GET  /api/console                              the console's properties
//	POST /api/services/metrics/context             a metrics context (no metrics)
//	GET  /api/cpcs                                 {"cpcs":[...]}
//	GET  /api/cpcs/{id}                            the CPC's properties
//	GET  /api/cpcs/{id}/logical-partitions         {"logical-partitions":[...]}
//	GET  /api/cpcs/{id}/partitions                 {"partitions":[...]}
//	GET  /api/cpcs/{id}/image-activation-profiles  and load-, reset-: the profiles
//	GET  /api/cpcs/{id}/image-activation-profiles/{name}   a profile's properties
//	GET  /api/logical-partitions/{id}              the LPAR's properties
//	GET  /api/partitions/{id}                      the partition's properties
//	POST /api/logical-partitions/{id}/operations/activate, deactivate, load,
//	     stop, start, reset-normal, reset-clear, psw-restart
//	POST /api/partitions/{id}/operations/start, stop
//	POST /api/cpcs/{id}/operations/start, stop     DPM mode only
//
// List items carry object-uri, name, status and target-name (CPCs also
// dpm-enabled, partitions type; profiles element-uri and name; over BCPii,
// as HWIREST answers, CPCs also location, "local" for the requesting
// partition's CPC and "remote" for the others, and LPARs request-origin,
// true for the requesting partition); the lists
// take the HMC's name filter, a regular expression the whole name must
// match, case-sensitively as zhmcclient's mock HMC matches it, List
// Partitions also status and type, and List Image Activation Profiles
// additional-properties (properties each entry carries; one a profile
// lacks is 400.14). A CPC in the other mode lists no
// partitions or profiles of the kind asked for, as the HMC answers. A List
// Logical Partitions of CPC whose name filter matches none answers 404.1,
// as the HMC does (the other lists answer an empty list). Get
// Properties takes properties= (a comma-separated list; a name the object
// lacks is 400.14) and cached-acceptable=true|false.
//
// # Synchronous answers
//
// Invoke judges a request in the order of the job contract and answers
// with the first failure, as *hmcerr.Error (HTTP status.reason):
//
//	unknown path                                        404.1
//	method not valid for the path                       405.0
//	query parameter the request does not take, a bad    400.1
//	  name filter, status or type value
//	body on a GET                                       400.4
//	body not well-formed JSON, not a JSON object, or a  400.7
//	  known field of the wrong type (force,
//	  activation-profile-name, load-address, ...;
//	  others are ignored)
//	no such object or profile                           404.1
//	the BCPii permissions refuse the request            403.1
//	properties= names a property the object lacks       400.14
//	start or stop of a CPC not in DPM mode              409.5
//	load with no load address known                    400.5
//	another operation runs on the object, on its CPC    409.2
//	  or on one of its partitions
//	Run has stopped                                     503.1
//
// Every error but 503.1 (and an internal 500) is marked as the backend's:
// bcpii-error false, since the SE raised it.
//
// An operation that passes answers 202 with {"job-uri":"/api/jobs/{id}"};
// the job is in the registry before Invoke returns. One operation at a time
// runs on an object: a second is refused at once (409.2) rather than
// queued, because the HMC too refuses work on a busy object.
//
// # Jobs
//
// The state rules are applied when the operation starts, and the outcome is
// fixed then; the job always runs for its duration (3s unless the inventory
// says otherwise). Its job-status-code and job-reason-code:
//
//	LPAR activate, deactivate, load succeed    complete 200, job-results
//	                                           {"message":"Logical partition LP2 activated."}
//	partition start, stop; CPC start, stop     complete 204, no job-results
//	  succeed
//	the object is in the wrong state           complete 409.1, job-results {"message":...}
//	a caller canceled the job                  canceled 409.0, job-results {"message":...}
//	Run stopped while the job ran              complete 503.1 (canceled 409.0 if a
//	                                           cancel was pending), job-results {"message":...}
//
// Success changes the object when the job ends: activate leaves an LPAR
// not-operating, or operating when its activation profile loads (an image
// profile with load-at-activation or in ssc or zaware mode, or a load
// profile); load, start and psw-restart make it operating; stop,
// reset-normal and reset-clear not-operating; deactivate not-activated.
// All LPAR operations complete 200 with a message. A partition is
// starting or stopping while its job runs and then active or stopped; CPC
// start makes a CPC operating and stop makes it not-operating with all its
// partitions stopped. Any other ending leaves the objects as they were.
//
// The wrong states, all 409.1: any operation on an LPAR or partition whose
// CPC is not operating; any LPAR operation but activate on a not-activated
// LPAR; activate, load, deactivate, reset-normal and reset-clear of an
// operating LPAR without "force":true (the resets also of one in
// exceptions); LPAR stop and start of an LPAR in ssc
// or zaware mode (an activated LPAR, operating or not, may otherwise be
// stopped and started, as the HMC's Stop and Start Logical Partition
// permit); partition start unless stopped, stop unless active; CPC
// start unless not-operating, stop unless operating.
// Activate of an LPAR that is not-operating or in exceptions succeeds.
// The HMC reports some of these conflicts differently (an unforced activate of an operating LPAR fails there with
// 500.263); here every state conflict is 409.1, so that clients meet one
// shape for it.
//
// An activate naming (or, by next-activation-profile-name, defaulting to)
// a profile the LPAR cannot be activated with, an image profile of another
// LPAR or no profile at all, is accepted and its job ends 500.263, the
// HMC's answer for it.
//
// Partition start and stop can be canceled, as the route table says; LPAR
// and CPC operations cannot (the registry answers Cancel Job with 404.4). The SE watches each
// cancelable job and, once it is cancel-pending, ends it canceled, after
// the operation's cancel-duration (zero by default). A job canceled before
// its state rules would have failed it still ends canceled.
//
// The inventory can change, per object and operation, the duration, the
// cancel-duration, whether the operation is cancelable, and the outcome
// (status-code, reason-code, job-results) used when the state rules let
// the operation run; see Operation.
//
// # Target names
//
// Resolve tells the target name of the object a URI addresses, so that
// the BCPii layer can check X-API-Target-Name: a CPC for /api/cpcs/{id} and
// anything under it, an LPAR or a partition for its own URIs. A partition's
// target name is its CPC's followed by its name, like an LPAR's. Target
// names and LPAR names follow bcpii's grammar.
package simse
