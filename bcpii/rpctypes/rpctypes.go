// Package rpctypes is what a client of the gateway's gRPC API needs beside
// the generated stubs: the metadata keys of the HMC headers, the HMC error
// detail every error status carries, and the HMC's JSON rendering of a
// job's status. It depends on nothing of the gateway's own, so that
// clients (bcpiictl, programs in partitions) use the same names the server
// does without importing its internals.
package rpctypes

import (
	"bytes"
	"encoding/json"
	"strconv"

	"google.golang.org/grpc/status"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// Metadata keys of the HMC headers and of the gateway's own.
const (
	// TargetKey is X-API-Target-Name: the target a BCPii request names.
	TargetKey = "x-api-target-name"
	// SessionKey is X-API-Session: the web-services session of an API
	// user.
	SessionKey = "x-api-session"
	// RequestIDKey is the header carrying the id the gateway gave a call,
	// the one its log lines name.
	RequestIDKey = "x-request-id"
	// StreamStartedKey is a header the server sends as soon as a
	// completion stream is accepted, so that a client can tell a stream
	// that waits for its first event from one that failed.
	StreamStartedKey = "x-bcpii-stream"
)

// HMCDetail returns the HmcError detail of a status error: the HTTP status
// and reason code the HMC would answer, and its message. Every error the
// gateway answers carries one.
func HMCDetail(err error) (*bcpiiv1.HmcError, bool) {
	s, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	for _, d := range s.Details() {
		if h, ok := d.(*bcpiiv1.HmcError); ok {
			return h, true
		}
	}
	return nil, false
}

// AppendJob renders a job's status as the HMC does: compact JSON, keys in
// lexical order, exactly the fields the job's state allows, job-results
// passed through as received but for insignificant white space.
func AppendJob(b []byte, j *bcpiiv1.Job) []byte {
	b = append(b, '{')
	if j.JobReasonCode != nil {
		b = append(b, `"job-reason-code":`...)
		b = strconv.AppendInt(b, int64(j.GetJobReasonCode()), 10)
		b = append(b, ',')
	}
	if j.JobResults != nil {
		b = append(b, `"job-results":`...)
		b = appendRawJSON(b, j.GetJobResults())
		b = append(b, ',')
	}
	if j.JobStatusCode != nil {
		b = append(b, `"job-status-code":`...)
		b = strconv.AppendInt(b, int64(j.GetJobStatusCode()), 10)
		b = append(b, ',')
	}
	b = append(b, `"status":`...)
	b = strconv.AppendQuote(b, StatusName(j.GetStatus()))
	return append(b, '}')
}

func appendRawJSON(b []byte, raw string) []byte {
	var c bytes.Buffer
	if err := json.Compact(&c, []byte(raw)); err != nil {
		// Not JSON: still answer valid JSON, as a string.
		return strconv.AppendQuote(b, raw)
	}
	return append(b, c.Bytes()...)
}

// StatusName is the HMC's name of a job status: running, cancel-pending,
// complete or canceled.
func StatusName(s bcpiiv1.JobStatus) string {
	switch s {
	case bcpiiv1.JobStatus_JOB_STATUS_RUNNING:
		return "running"
	case bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING:
		return "cancel-pending"
	case bcpiiv1.JobStatus_JOB_STATUS_COMPLETE:
		return "complete"
	case bcpiiv1.JobStatus_JOB_STATUS_CANCELED:
		return "canceled"
	}
	return "unknown"
}
