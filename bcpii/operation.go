package bcpii

import "github.com/bcpii-gateway/bcpii-gateway/internal/jobs"

// OperationRequest is one HWIREST-style request for a backend (the
// simulated SE or an upstream HMC): a request of the route table, after
// its target rule.
type OperationRequest struct {
	// Principal is who asks: the job the request starts is its owner's,
	// and alone its owner may see it.
	Principal Principal
	// Target is the checked X-API-Target-Name of a BCPii request; zero
	// for API users and for requests that name none. The job remembers
	// it.
	Target TargetName
	// Method and URI are the HTTP method and the request URI, path and
	// query, as received.
	Method, URI string
	// Body is the JSON body; empty for none.
	Body []byte
}

// Owner is the owner of the job the request starts.
func (r OperationRequest) Owner() jobs.Owner { return r.Principal.Owner() }

// OperationResponse is a backend's successful answer; failures are
// *hmcerr.Error.
type OperationResponse struct {
	// Status is the HTTP status: 200 for a query, 202 for a started
	// operation.
	Status int
	// Body is the JSON answer, or nil.
	Body []byte
	// JobURI is the local job of a started operation (Status 202).
	JobURI string
}
