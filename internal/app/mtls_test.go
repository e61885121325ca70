package app_test

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// TestMTLS runs a gateway that trusts one CA for partition certificates,
// serves loopback TCP without a local identity, and runs in partition LP3.
func TestMTLS(t *testing.T) {
	ca := newCA(t, "partitions CA")
	g := startGateway(t, nil, func(c *app.Config) {
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
		c.Partition = lp3
	})
	objs := g.discover(t, g.restClient(t, ca.partitionCert(t, lp1)), nil)

	// start has the caller of ops activate the LPAR named, naming it, and
	// returns the job id.
	start := func(t *testing.T, ops bcpiiv1.OperationServiceClient, lpar, target string) string {
		t.Helper()
		resp, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: "POST", Uri: objs[lpar].uri + "/operations/activate", TargetName: target, Body: `{"force":true}`})
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		return jobIDFromURI(t, resp.GetJobUri())
	}

	t.Run("two partition certificates", func(t *testing.T) {
		type part struct {
			target string
			cert   tls.Certificate
			jobs   bcpiiv1.JobServiceClient
			rest   *http.Client
			id     string
		}
		parts := []*part{{target: lp1}, {target: lp2}}
		for _, p := range parts {
			p.cert = ca.partitionCert(t, p.target)
			conn := g.grpcConn(t, p.cert)
			p.jobs = bcpiiv1.NewJobServiceClient(conn)
			p.rest = g.restClient(t, p.cert)
			p.id = start(t, bcpiiv1.NewOperationServiceClient(conn), map[string]string{lp1: "LP1", lp2: "LP2"}[p.target], p.target)
		}
		for i, p := range parts {
			other := parts[1-i]
			if got := listJobs(t, withMD(t), p.jobs); !slices.Equal(got, []string{p.id}) {
				t.Errorf("%s: ListJobs = %v, want only %s", p.target, got, p.id)
			}
			// Its own job over both interfaces, as itself.
			if _, err := p.jobs.GetJob(withMD(t, rpctypes.TargetKey, p.target), &bcpiiv1.GetJobRequest{JobId: p.id}); err != nil {
				t.Errorf("%s: GetJob own job: %v", p.target, err)
			}
			ans := g.rest(t, p.rest, http.MethodGet, "/api/jobs/"+p.id, http.Header{"X-Api-Target-Name": {p.target}}, "")
			if ans.status != 200 {
				t.Errorf("%s: GET own job: %d %s", p.target, ans.status, ans.body)
			}
			// The other's job, named by its own target, is not found,
			// and the error says who asked.
			_, err := p.jobs.GetJob(withMD(t, rpctypes.TargetKey, other.target), &bcpiiv1.GetJobRequest{JobId: other.id})
			if d := wantGRPCError(t, err, codes.NotFound, 404, 1); d.GetRequestAuthenticatedAs() != p.target {
				t.Errorf("%s: detail %v", p.target, d)
			}
			ans = g.rest(t, p.rest, http.MethodGet, "/api/jobs/"+other.id, http.Header{"X-Api-Target-Name": {other.target}}, "")
			wantBCPiiError(t, wantRESTError(t, ans, 404, 1), p.target)
		}
	})

	t.Run("refused at the handshake", func(t *testing.T) {
		otherCA := newCA(t, "someone else's CA")
		tests := []struct {
			name string
			cert tls.Certificate
		}{
			{"untrusted CA", otherCA.partitionCert(t, lp1)},
			{"no URI name", ca.issue(t)},
			{"no partition URI name", ca.issue(t, &url.URL{Scheme: "spiffe", Host: "example.org", Path: "/lp1"})},
			{"CPC target only", ca.issue(t, bcpii.PartitionURI(mustTarget(t, cpc1)))},
			{"malformed partition name", ca.issue(t, &url.URL{Scheme: "urn", Opaque: "bcpii:partition:IBM390PS.CPC1.1LP"})},
			{"two partition names", ca.issue(t, bcpii.PartitionURI(mustTarget(t, lp1)), bcpii.PartitionURI(mustTarget(t, lp2)))},
			{"name in lower case", ca.issue(t, &url.URL{Scheme: "urn", Opaque: "bcpii:partition:ibm390ps.cpc1.lp2"})},
			{"prefix in upper case", ca.issue(t, &url.URL{Scheme: "URN", Opaque: "BCPII:PARTITION:IBM390PS.CPC1.LP2"})},
			{"escaped letter", ca.issue(t, &url.URL{Scheme: "urn", Opaque: "bcpii:partition:IBM390PS.CPC1.LP%32"})},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// GetVersion and GET /api/version need no principal, so
				// only the handshake can refuse them. The client presents
				// the certificate whatever CAs the server asks for.
				_, err := bcpiiv1.NewSessionServiceClient(g.grpcConnTLS(t, g.insisting(tt.cert))).GetVersion(withMD(t), &bcpiiv1.GetVersionRequest{})
				if status.Code(err) != codes.Unavailable {
					t.Errorf("gRPC GetVersion = %v, want Unavailable from a failed handshake", err)
				}
				if _, ok := rpctypes.HMCDetail(err); ok {
					t.Errorf("gRPC error %v has an HMC detail: the server answered", err)
				}
				if ans, err := g.tryREST(g.restClientTLS(t, g.insisting(tt.cert)), http.MethodGet, "/api/version", nil, ""); err == nil {
					t.Errorf("REST GET /api/version answered %d %s, want a failed handshake", ans.status, ans.body)
				}
			})
		}

		// A Go client leaves out a certificate of a CA the server does not
		// ask for; it is then no partition at all.
		cert := otherCA.partitionCert(t, lp1)
		_, err := bcpiiv1.NewJobServiceClient(g.grpcConn(t, cert)).ListJobs(withMD(t), &bcpiiv1.ListJobsRequest{})
		wantGRPCError(t, err, codes.Unauthenticated, 403, 4)
		wantRESTError(t, g.rest(t, g.restClient(t, cert), http.MethodGet, "/api/jobs/"+jobs.NewID(), http.Header{"X-Api-Target-Name": {lp1}}, ""), 403, 4)
	})

	t.Run("no certificate and no session over TCP", func(t *testing.T) {
		conn := g.grpcConn(t)
		jobsc := bcpiiv1.NewJobServiceClient(conn)
		_, err := jobsc.GetJob(withMD(t), &bcpiiv1.GetJobRequest{JobId: jobs.NewID()})
		if d := wantGRPCError(t, err, codes.Unauthenticated, 403, 4); d.RequestAuthenticatedAs != nil || d.BcpiiError != nil {
			t.Errorf("detail %v names a caller", d)
		}
		_, err = jobsc.ListJobs(withMD(t), &bcpiiv1.ListJobsRequest{})
		wantGRPCError(t, err, codes.Unauthenticated, 403, 4)
		_, err = bcpiiv1.NewOperationServiceClient(conn).Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: "GET", Uri: "/api/cpcs"})
		wantGRPCError(t, err, codes.Unauthenticated, 403, 4)

		rest := g.restClient(t)
		for _, path := range []string{"/api/jobs/" + jobs.NewID(), "/api/cpcs"} {
			e := wantRESTError(t, g.rest(t, rest, http.MethodGet, path, http.Header{"X-Api-Target-Name": {lp1}}, ""), 403, 4)
			if e.AuthenticatedAs != nil || e.BCPiiError != nil {
				t.Errorf("GET %s: error names a caller: %+v", path, e)
			}
		}
		// What needs no principal still works.
		if _, err := bcpiiv1.NewSessionServiceClient(conn).GetVersion(withMD(t), &bcpiiv1.GetVersionRequest{}); err != nil {
			t.Errorf("GetVersion: %v", err)
		}
		if ans := g.rest(t, rest, http.MethodGet, "/api/version", nil, ""); ans.status != 200 {
			t.Errorf("GET /api/version: %d %s", ans.status, ans.body)
		}
	})

	t.Run("a session beside a certificate or on the socket is judged", func(t *testing.T) {
		// X-API-Session makes a request an API user's whatever the
		// connection: an unknown one is 403.5, never the partition.
		cert := ca.partitionCert(t, lp1)
		for name, conn := range map[string]*grpc.ClientConn{"certificate": g.grpcConn(t, cert), "socket": g.socketConn(t)} {
			_, err := bcpiiv1.NewJobServiceClient(conn).ListJobs(withMD(t, rpctypes.SessionKey, "no-such-session"), &bcpiiv1.ListJobsRequest{})
			if d := wantGRPCError(t, err, codes.Unauthenticated, 403, 5); d.RequestAuthenticatedAs != nil {
				t.Errorf("%s: detail %v", name, d)
			}
		}
		ans := g.rest(t, g.restClient(t, cert), http.MethodGet, "/api/cpcs", http.Header{"X-Api-Session": {"no-such-session"}}, "")
		wantRESTError(t, ans, 403, 5)
	})

	t.Run("the Unix socket is the local partition", func(t *testing.T) {
		conn := g.socketConn(t)
		jobsc := bcpiiv1.NewJobServiceClient(conn)
		_, err := jobsc.GetJob(withMD(t), &bcpiiv1.GetJobRequest{JobId: jobs.NewID()})
		if d := wantGRPCError(t, err, codes.NotFound, 404, 1); d.GetRequestAuthenticatedAs() != lp3 || !d.GetBcpiiError() {
			t.Errorf("over the socket the caller is %q (bcpii-error %v), want %s", d.GetRequestAuthenticatedAs(), d.GetBcpiiError(), lp3)
		}
		id := start(t, bcpiiv1.NewOperationServiceClient(conn), "LP3", lp3)
		if got := listJobs(t, withMD(t), jobsc); !slices.Equal(got, []string{id}) {
			t.Errorf("ListJobs over the socket = %v, want %s", got, id)
		}
		if _, err := jobsc.GetJob(withMD(t, rpctypes.TargetKey, lp3), &bcpiiv1.GetJobRequest{JobId: id}); err != nil {
			t.Errorf("GetJob over the socket: %v", err)
		}
		// The local partition's job is its own: LP1 over TCP does not see it.
		lp1Jobs := bcpiiv1.NewJobServiceClient(g.grpcConn(t, ca.partitionCert(t, lp1)))
		_, err = lp1Jobs.GetJob(withMD(t, rpctypes.TargetKey, lp3), &bcpiiv1.GetJobRequest{JobId: id})
		wantGRPCError(t, err, codes.NotFound, 404, 1)
	})
}

// TestLoopbackIdentity is the contrast to NoLoopbackIdentity: by default a
// loopback TCP caller with neither certificate nor session is the local
// partition.
func TestLoopbackIdentity(t *testing.T) {
	g := startGateway(t, nil, func(c *app.Config) { c.Partition = lp2 })
	_, err := bcpiiv1.NewJobServiceClient(g.grpcConn(t)).GetJob(withMD(t), &bcpiiv1.GetJobRequest{JobId: jobs.NewID()})
	if d := wantGRPCError(t, err, codes.NotFound, 404, 1); d.GetRequestAuthenticatedAs() != lp2 {
		t.Errorf("gRPC over loopback: caller %q, want %s", d.GetRequestAuthenticatedAs(), lp2)
	}
	ans := g.rest(t, g.restClient(t), http.MethodGet, "/api/jobs/"+jobs.NewID(), nil, "")
	wantBCPiiError(t, wantRESTError(t, ans, 404, 1), lp2)
}
