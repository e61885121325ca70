// Package upstream is the gateway's backend for a real HMC or SE: a client
// of its Web Services API over HTTPS. Operations that callers start through
// the gateway are forwarded as the same method, URI and body; the jobs they
// start upstream become local jobs in the job registry, which stays the
// single source of truth for callers. The client follows each upstream job
// with one Query Job Status per interval, however many callers wait on it,
// stores the final status locally, and deletes the upstream job status.
//
// # Trust and credentials
//
// The upstream is reached only over HTTPS. Its certificate is verified
// against a CA file, or the system roots when there is none; or it is
// pinned by its SHA-256 fingerprint, which then replaces the chain and name
// checks (with a CA file as well, both must pass). There is no way to skip
// verification without a pin.
//
// The client logs on as one API user (POST /api/sessions), sends
// X-API-Session on every request, logs on again once when the upstream
// answers 403.4 or 403.5 (an HMC restart forgets its sessions) and retries
// the request, and logs off when Run ends. The credentials file holds two
// lines:
//
//	# comments and blank lines are ignored
//	userid: bcpii-gateway
//	password: the rest of the line, verbatim
//
// Each value is the rest of its line after the colon, without the white
// space around it; there is no quoting and no escaping, so quotes are part
// of the value. Neither the password nor the session id is ever logged or
// put in an error.
//
// # Operations
//
// Only the requests of bcpii's route table are forwarded (matched with
// bcpii.MatchOperation, and only with object ids of URI unreserved
// characters); anything else answers 404.1 (405.0 for a known path with
// another method) without reaching the upstream, so that callers cannot use
// the gateway's HMC user for other requests (its sessions, users or jobs).
// The route table says, for each, which target it names and whether its job
// can be canceled:
//
//	GET  /api/cpcs                                    no target
//	GET  /api/cpcs/{id}, .../logical-partitions,      the CPC
//	     .../partitions
//	GET  /api/logical-partitions/{id}                 the LPAR
//	GET  /api/partitions/{id}                         the partition
//	POST /api/logical-partitions/{id}/operations/     the LPAR; not cancelable
//	     activate, deactivate, load
//	POST /api/partitions/{id}/operations/start, stop  the partition; cancelable
//	POST /api/cpcs/{id}/operations/start, stop        the CPC; not cancelable
//
// A local job can be canceled (and the cancel is forwarded) only for
// partition start and stop, as on the HMC and the simulated SE; the others
// answer 404.4 locally. If the upstream nevertheless refuses a forwarded
// cancel (404.4), the refusal is logged and the job stays cancel-pending
// until the upstream job ends, with the status the upstream reports.
//
// A 202 answer with a job-uri registers a local job, owned by the caller
// and remembering the upstream job URI as its BackendRef, before the caller
// is answered 202 with the local job URI. Any other 2xx answer is passed
// through. A non-2xx answer becomes an *hmcerr.Error with the upstream's
// status, reason and message, marked as the backend's (bcpii-error false);
// an upstream that cannot be reached, or whose logon fails, is 503.1.
//
// # Target names
//
// Resolve tells the target name of the CPC, logical partition or partition
// a URI addresses, from a cache of the upstream's lists (GET /api/cpcs and
// each CPC's logical-partitions and partitions), refreshed on a miss at
// most once per TargetRefresh. A CPC's target name is its target-name
// property; a partition's is its target-name property or else its CPC's
// followed by its name. An object whose target name is unknown cannot be
// reached by a requesting partition (404.1, or 503.1 while the upstream
// cannot be reached), since its X-API-Target-Name could not be checked.
//
// # Following jobs
//
// Run follows every job until ctx ends. Each job is queried once per
// PollInterval (jittered by ±10% so that jobs started together do not poll
// together), backing off exponentially up to MaxBackoff while queries fail.
// When the upstream job has ended, its status, job-status-code,
// job-reason-code and job-results (with only insignificant white space
// removed) are stored with jobs.Registry.Finish and the upstream job status
// is deleted. A job the upstream no longer knows (404.1) ends locally as
// complete with 503.1, its outcome unknown. When a caller cancels a local
// job, the cancel is forwarded once. While the upstream cannot be reached,
// callers still see their jobs from the registry, and new operations are
// 503.1.
//
// Unless NotificationAddr is "-", Run also subscribes to the session's
// job topic on the upstream's STOMP interface (the logon answer's
// job-notification-topic, with its api-session and session-credential as
// login and passcode), as HMC clients do. A job-completion message wakes
// the follower of the job it names, which queries the job at once; while
// the subscription is live, jobs are polled only every
// NotifiedPollInterval, as a safety net. When the subscription starts or
// ends, every follower queries once (it may have missed its message) and
// takes the interval that now applies. A refused STOMP login may mean the
// session is no longer known: the client logs on again, once per session,
// and subscribes with the new one; if that is refused too it keeps
// polling and tries again every 30 s without another logon. Connection
// attempts back off from 1 s to 30 s.
//
// What Run needs to follow a job again after a restart, its upstream job
// URI, is the job's BackendRef, stored in the write that creates the job;
// Run starts by following every job the store holds not ended that names
// one, and ends any that names none as complete 503.1, its outcome unknown.
//
// # Replicas
//
// With Config.Claims, several gateways on one store follow the jobs
// together, each running job by exactly one: a replica follows a job only
// while it holds the job's claim (taken when its Invoke created the job, or
// when a search finds a job not ended that no replica holds), and stores
// the job's end under that claim, fenced, so that a replica that lost it
// cannot. The searches run at start, whenever a claim is deleted (a job
// ended, or its holder died and its lease lapsed), and once per lease TTL,
// at most four times a second.
package upstream
