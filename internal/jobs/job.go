// Package jobs is the job domain: the state machine of an asynchronous HMC
// job, the cancel and delete rules with their HMC reason codes, retention,
// ownership, and the watchers that wake waiting callers. It knows no
// transport: gRPC and REST live elsewhere and call in.
package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Status is the state of a job, spelled as the HMC spells it.
type Status string

// The states of a job: running, then optionally cancel-pending, then complete
// or canceled. A job that has ended never changes again.
const (
	Running       Status = "running"
	CancelPending Status = "cancel-pending"
	Complete      Status = "complete"
	Canceled      Status = "canceled"
)

// Ended reports whether s is a final state.
func (s Status) Ended() bool { return s == Complete || s == Canceled }

// Valid reports whether s is one of the four states.
func (s Status) Valid() bool {
	return s == Running || s == CancelPending || s == Complete || s == Canceled
}

// OwnerKind says what kind of principal owns a job.
type OwnerKind string

// The kinds of owner.
const (
	// PartitionOwner is a requesting partition on the BCPii interface; the
	// name is its target name in upper case.
	PartitionOwner OwnerKind = "partition"
	// UserOwner is an API user of the web-services interface.
	UserOwner OwnerKind = "user"
)

// Owner is the principal that started a job and the only one that may see it.
type Owner struct {
	Kind OwnerKind `json:"kind"`
	Name string    `json:"name"`
}

// IsZero reports whether o names no one.
func (o Owner) IsZero() bool { return o.Kind == "" && o.Name == "" }

// String is a readable form of o for logs, such as
// "partition:IBM390PS.CPC1.LP1". It is not unambiguous: indexes must keep
// Kind and Name apart.
func (o Owner) String() string { return string(o.Kind) + ":" + o.Name }

// Job is one asynchronous job and everything the gateway keeps about it.
type Job struct {
	ID string `json:"id"`
	// Owner started the job; no one else may see it.
	Owner Owner `json:"owner"`
	// Target is the X-API-Target-Name of the BCPii request that started the
	// job, empty for jobs started by API users.
	Target string `json:"target,omitempty"`
	// Operation names what started the job, e.g. the method and URI.
	Operation string `json:"operation,omitempty"`
	// Cancelable says whether the operation supports Cancel Job.
	Cancelable bool `json:"cancelable"`
	// BackendRef is the backend's own name for the job, such as the
	// upstream HMC's job URI; empty for the simulated SE.
	BackendRef string `json:"backend-ref,omitempty"`
	Status     Status `json:"status"`
	// StatusCode is job-status-code, set once the job has ended.
	StatusCode int `json:"status-code,omitempty"`
	// ReasonCode is job-reason-code; it is shown only when the job has ended
	// with a StatusCode that is not 2xx.
	ReasonCode int `json:"reason-code,omitempty"`
	// Results is job-results, a JSON object kept byte for byte; nil when the
	// operation has none.
	Results json.RawMessage `json:"results,omitempty"`
	Created time.Time       `json:"created"`
	// Ended is when the job reached complete or canceled; zero before.
	Ended time.Time `json:"ended,omitzero"`
	// Revision is the store's revision of the job's last write, and
	// CreateRevision that of its creation; stores set both.
	Revision       int64 `json:"-"`
	CreateRevision int64 `json:"-"`
}

// URI is the job URI the starting operation answers with.
func (j Job) URI() string { return "/api/jobs/" + j.ID }

// HasStatusCode reports whether job-status-code is part of the job's status.
func (j Job) HasStatusCode() bool { return j.Status.Ended() }

// HasReasonCode reports whether job-reason-code is part of the job's status:
// only for an ended job whose status code is not 2xx.
func (j Job) HasReasonCode() bool {
	return j.Status.Ended() && (j.StatusCode < 200 || j.StatusCode > 299)
}

// HasResults reports whether job-results is part of the job's status.
func (j Job) HasResults() bool { return j.Status.Ended() && len(j.Results) > 0 }

// NewID returns a fresh job id: a random (version 4) UUID in lower case.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ValidID reports whether id has the form of an id NewID issues: 36
// characters, lower-case hex in 8-4-4-4-12 groups. Ids are matched exactly
// as issued, so anything else cannot name a job.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
