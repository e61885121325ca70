// Package bcpii is the BCPii side of the gateway without its transports:
// target names, the principals that own jobs (a requesting partition or an
// API user), the X-API-Target-Name rules, the route table of the requests
// that read objects and start operations, the partition identity carried
// by a client certificate, and the API users and sessions of the
// web-services interface. It imports neither gRPC nor net/http, so the
// rules here are the same whichever transport asks.
//
// # Routes and target names
//
// The route table (Routes) holds, for each request besides the job
// requests, its method and URI pattern, the kind of object it is about,
// its operation, its X-API-Target-Name rule, whether the job it starts can
// be canceled, and the query parameters it takes. The REST gateway builds
// its routes from it, and the simulated SE, the upstream HMC client and
// the server's target check match requests with MatchOperation: an unknown
// path is 404.1, a known one with another method 405.0.
//
// A request over BCPii names its target as HWIREST does: Query API Version
// and List CPCs name none, and nor do the console's requests (Get Console
// Properties, Create Metrics Context), which address no CPC; a request addressed to a CPC or anything under
// it names that CPC; one addressed to a logical partition or partition
// names it (Match.CheckTarget). A job request names the target of the
// request that started the job (Principal.Caller). Backends take the
// checked request as an OperationRequest.
//
// # Permissions between partitions
//
// Permit applies the BCPii permissions an SE keeps in each logical
// partition's image profile (Permissions): whether the partition may send
// BCPii commands, and which partitions may act on it. A request on the
// requester's own target is always permitted. A refusal is 403.1 raised by
// the SE (bcpii-error false); the simulated SE applies it to every request
// of a partition, and an upstream SE applies its own.
//
// # Partition identity in client certificates
//
// The requesting partition is never taken from a header the caller can set.
// On an mTLS connection it comes from the client certificate, which names
// its partition in exactly one URI subject alternative name:
//
//	urn:bcpii:partition:NETID.NAU.LPARNAME
//
// for example urn:bcpii:partition:IBM390PS.CPC1.LP1. The target name is
// compared case-insensitively and must name a logical partition, not a CPC.
// Because '#' begins a URI fragment, a '#' in the target name is written
// %23 (PartitionURI does so); a literal '#' is accepted too, since
// certificate tools often write the name unescaped. Other URI names in the
// certificate (a SPIFFE id, say) are ignored, but a certificate with two
// partition names is refused rather than guessed at.
package bcpii
