package hmcerr

// The catalogue: every status.reason the gateway answers, each named, with
// its meaning and who raises it, as etcd's rpctypes lists its errors. An
// error a caller sees is one of these, perhaps with a message of its own
// (WithMessage) or a cause for the log (WithCause); the only other errors
// are an upstream HMC's own, passed through by Upstream. A test fails when
// an Error is built anywhere else, and the README's reason-code table is
// checked against Catalogue.

// Entry documents one status.reason.
type Entry struct {
	// Err is the error, with its default message.
	Err *Error
	// When says when it is answered; RaisedBy who raises it: "gateway",
	// "SE", or both.
	When, RaisedBy string
}

var catalogue []Entry

// define adds an error to the catalogue. It is called only here.
func define(kind Kind, httpStatus, reason int, message, when, raisedBy string) *Error {
	e := &Error{Kind: kind, HTTPStatus: httpStatus, Reason: reason, Message: message}
	catalogue = append(catalogue, Entry{Err: e, When: when, RaisedBy: raisedBy})
	return e
}

// backend marks an error the SE raises: bcpii-error false.
func backend(e *Error) *Error {
	e.Backend = true
	return e
}

// The errors, in the order of the README's table.
var (
	ErrBodyUnreadable = define(InvalidArgument, 400, 0, "The request body could not be read.",
		"the request could not be read: a malformed request line or header, headers over 32 KiB, a bad or doubled `Content-Length`, a `Transfer-Encoding` other than chunked, an HTTP version other than 1.x, or a body cut short (the answers the HTTP layer would give in plain text, given as HMC error bodies; the connection closes after them)", "gateway")
	ErrBadQueryParm = define(InvalidArgument, 400, 1, "A query parameter is unknown or malformed.",
		"unknown or malformed query parameter (gateway); a `name` filter that is no regular expression, a `status`, `type` or `cached-acceptable` value the filter cannot have (SE)", "gateway, SE")
	ErrBadTargetName = define(InvalidArgument, 400, 2, "The X-API-Target-Name header is missing, malformed or does not name the target of the request.",
		"`X-API-Target-Name` missing, malformed or naming another object", "gateway")
	ErrBodyMissing = define(InvalidArgument, 400, 3, "The request requires a body.",
		"body missing where one is required (Logon; Create Metrics Context; Submit Requests; the Update ... Properties requests; Send OS Command; SCSI Load and Dump)", "gateway, SE")
	ErrBodyNotExpected = define(InvalidArgument, 400, 4, "The request does not take a body.",
		"a body where none is taken", "gateway")
	ErrFieldMissing = define(InvalidArgument, 400, 5, "A required request body field is missing.",
		"a required body field missing (Logon; `load-address` when the LPAR has no last-used load address; Create Metrics Context's `anticipated-frequency-seconds`; Submit Requests' `requests`; SCSI Load's and Dump's `load-address`, `world-wide-port-name`, `logical-unit-number`; Send OS Command's `operating-system-command-text`)", "gateway, SE")
	ErrUnknownField = define(InvalidArgument, 400, 6, "A request body field is not valid for this request.",
		"an unknown body field (Logon, Submit Requests, Send OS Command); in an Update ... Properties request, a property the object does not have or that is not writable, named in the message", "gateway, SE")
	ErrInvalidField = define(InvalidArgument, 400, 7, "A request field has the wrong type or is out of range.",
		"a body field of the wrong type or range, a body that is not a JSON object, **or a body that is not well-formed JSON** (everywhere the same reason); a property value of the wrong type or range in an update, named in the message; an OS command over 200 characters; a Submit Requests body the gateway cannot run whole", "gateway, SE")
	ErrUnknownProperty = backend(define(InvalidArgument, 400, 14, "The object does not have a property the properties query parameter names.",
		"`properties=` names a property the object does not have (added: the HMC's reason, which zhmcclient's `pull_properties` handles)", "SE"))
	ErrLogonFailed = define(PermissionDenied, 403, 0, "Logon failed: the user ID or password is not valid.",
		"a failed logon", "gateway")
	ErrNotPermitted = backend(define(PermissionDenied, 403, 1, "The requesting partition is not permitted to make this BCPii request.",
		"the SE's BCPii permissions refuse the request (section 8 of the contract)", "SE"))
	ErrNoSession = define(Unauthenticated, 403, 4, "The request requires an API session, and the X-API-Session header is missing.",
		"no `X-API-Session` where one is needed", "gateway")
	ErrSessionNotValid = define(Unauthenticated, 403, 5, "The API session named by the X-API-Session header is not valid: it is unknown, has expired or was logged off.",
		"an unknown or expired `X-API-Session`", "gateway")
	ErrNotFound = define(NotFound, 404, 1, "The object designated by the request URI does not exist or is not accessible to the requester.",
		"unknown path or job, a job not yours (gateway); an unknown object or profile, or a List Logical Partitions of CPC whose `name` filter matches none, as the HMC answers it (SE)", "gateway, SE")
	ErrNotCancelable = define(FailedPrecondition, 404, 4, "The job's operation does not support cancellation.",
		"Cancel Job of an operation that cannot be canceled", "gateway")
	ErrMethodNotAllowed = define(Unimplemented, 405, 0, "The request method is not valid for the request URI.",
		"method not valid for the URI", "gateway")
	ErrNotAcceptable = define(InvalidArgument, 406, 0, "The Accept header does not admit application/json.",
		"`Accept` without JSON", "gateway")
	ErrWrongState = backend(define(FailedPrecondition, 409, 1, "The object is not in a state that permits the request.",
		"Update Logical Partition Properties of a partition not activated, beyond its next activation profile and acceptable status", "SE"))
	ErrBusy = backend(define(FailedPrecondition, 409, 2, "The object is busy with another operation.",
		"another operation runs on the object, its CPC or one of its partitions", "SE"))
	ErrNotDPM = backend(define(FailedPrecondition, 409, 5, "The CPC is not enabled for DPM.",
		"start or stop of a CPC that is not in DPM mode (added: the HMC's reason for it, as zhmcclient's mock answers it)", "SE"))
	ErrNoOSMessages = backend(define(FailedPrecondition, 409, 332, "The operating system messages interface of the partition is not available.",
		"List OS Messages, Send OS Command or Open OS Message Channel of a logical partition or partition with no operating system running (not operating; not active)", "SE"))
	ErrJobNotEnded = define(FailedPrecondition, 409, 40, "The job has not ended; its status cannot be deleted yet.",
		"Delete Completed Job Status of a job not ended", "gateway")
	ErrJobEnded = define(FailedPrecondition, 409, 41, "The job has already ended.",
		"Cancel Job of a job already ended", "gateway")
	ErrCancelPending = define(FailedPrecondition, 409, 42, "Cancellation of the job is already pending.",
		"Cancel Job of a job whose cancel is pending", "gateway")
	ErrTooLarge = define(TooLarge, 413, 0, "The request body is larger than 65536 bytes.",
		"body over 64 KiB (Submit Requests: 256,000 bytes), a gRPC message over 64 KiB, compressed or not, up to 1 MiB (beyond, see below)", "gateway")
	ErrInternal = define(Internal, 500, 0, "An internal error occurred.",
		"an internal fault; the message holds a request id, never detail", "gateway")
	ErrStopping = define(Unavailable, 503, 0, "The service is not available.",
		"the gateway's own service did not answer (it is stopping), or the request was canceled or passed its deadline", "gateway")
	ErrUnavailable = define(Unavailable, 503, 1, "The Support Element or HMC cannot be reached.",
		"the SE or HMC cannot be reached", "gateway")
	ErrStoreFull = define(Unavailable, 503, 2, "The gateway's job store is full: no job can be started until space is freed.",
		"the job store has no space left (the filesystem of `--data-dir` is full, or etcd's space quota is reached): starts and other writes are refused, stored jobs still answer, and the gateway accepts again once space is freed, without a restart (added: the HMC has no reason for it)", "gateway")
)

// Catalogue returns every error the gateway answers, in the README's
// order.
func Catalogue() []Entry {
	out := make([]Entry, len(catalogue))
	for i, e := range catalogue {
		c := *e.Err
		out[i] = Entry{Err: &c, When: e.When, RaisedBy: e.RaisedBy}
	}
	return out
}

// Upstream is an error an upstream HMC answered, passed through with its
// own status, reason and message: the one kind of error the catalogue does
// not list, since the HMC decides it.
func Upstream(httpStatus, reason int, message string) *Error {
	return &Error{Kind: KindOf(httpStatus), HTTPStatus: httpStatus, Reason: reason, Message: message, Backend: true}
}

// KindOf is the kind of an HTTP status another party chose.
func KindOf(httpStatus int) Kind {
	switch {
	case httpStatus == 404:
		return NotFound
	case httpStatus == 403 || httpStatus == 401:
		return PermissionDenied
	case httpStatus == 409:
		return FailedPrecondition
	case httpStatus == 413:
		return TooLarge
	case httpStatus == 405:
		return Unimplemented
	case httpStatus == 503:
		return Unavailable
	case httpStatus >= 400 && httpStatus < 500:
		return InvalidArgument
	}
	return Internal
}

// Job outcomes: how a job ends when its operation fails. They are not
// errors of the request that started the job (that answered 202); a job's
// job-status-code and job-reason-code carry them.
var (
	JobWrongState      = defineJob(409, 1, "the object was in a state the operation does not take")
	JobProfileUnusable = defineJob(500, 263, "an activation with a profile the partition cannot use (another partition's image profile, or a name that is no profile), as on the HMC")
	JobCanceled        = defineJob(409, 0, "the job was canceled")
	JobLost            = defineJob(503, 1, "the job's fate was lost: the SE or gateway stopped or crashed while it ran")
)

// JobOutcome is a job-status-code and job-reason-code a failed job ends
// with, and when.
type JobOutcome struct {
	StatusCode, ReasonCode int
	When                   string
}

var jobOutcomes []JobOutcome

func defineJob(status, reason int, when string) JobOutcome {
	o := JobOutcome{StatusCode: status, ReasonCode: reason, When: when}
	jobOutcomes = append(jobOutcomes, o)
	return o
}

// JobOutcomes returns the failed-job outcomes of the catalogue.
func JobOutcomes() []JobOutcome { return append([]JobOutcome(nil), jobOutcomes...) }
