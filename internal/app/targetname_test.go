package app_test

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// TestTargetNameRules applies each X-API-Target-Name rule (spec section 4)
// to partition A's own BCPii job, over gRPC metadata and the REST header.
// A failing rule answers 400.2 with bcpii-error true for query, cancel and
// delete alike and changes nothing; the right target in lower case works.
func TestTargetNameRules(t *testing.T) {
	ca := newCA(t, "partitions CA")
	g := startGateway(t, nil, func(c *app.Config) {
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
	})
	cert := ca.partitionCert(t, lp1)
	conn := g.grpcConn(t, cert)
	jobsc, ops := bcpiiv1.NewJobServiceClient(conn), bcpiiv1.NewOperationServiceClient(conn)
	rest := g.restClient(t, cert)
	objs := g.discover(t, rest, nil)

	// A stops PART2: a cancelable job whose target is PART2, not A itself.
	resp, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: "POST", Uri: objs["PART2"].uri + "/operations/stop", TargetName: part2})
	if err != nil {
		t.Fatal(err)
	}
	id := jobIDFromURI(t, resp.GetJobUri())

	tests := []struct {
		name   string
		values []string // nil: no header
		ok     bool
	}{
		{name: "missing"},
		{name: "empty", values: []string{""}},
		{name: "malformed", values: []string{"IBM390PS..PART2"}},
		{name: "malformed LPAR name", values: []string{"IBM390PS.CPC2.2PART"}},
		{name: "too many parts", values: []string{"IBM390PS.CPC2.PART2.X"}},
		{name: "the requesting partition", values: []string{lp1}},
		{name: "another partition", values: []string{part1}},
		{name: "the target's CPC", values: []string{cpc2}},
		{name: "the right one twice", values: []string{part2, part2}},
		{name: "right target in lower case", values: []string{strings.ToLower(part2)}, ok: true},
		{name: "right target in mixed case", values: []string{"ibm390ps.CPC2.Part2"}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := metadata.MD{}
			hdr := http.Header{}
			if tt.values != nil {
				md[rpctypes.TargetKey] = tt.values
				hdr["X-Api-Target-Name"] = tt.values
			}
			ctx := metadata.NewOutgoingContext(withMD(t), md)

			t.Run("gRPC", func(t *testing.T) {
				got, err := jobsc.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: id})
				if tt.ok {
					if err != nil || got.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
						t.Fatalf("GetJob = %v, %v", got, err)
					}
					return
				}
				d := wantGRPCError(t, err, codes.InvalidArgument, 400, 2)
				if !d.GetBcpiiError() || d.GetRequestAuthenticatedAs() != lp1 {
					t.Errorf("detail %v", d)
				}
				_, err = jobsc.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id})
				wantGRPCError(t, err, codes.InvalidArgument, 400, 2)
				_, err = jobsc.DeleteJob(ctx, &bcpiiv1.DeleteJobRequest{JobId: id})
				wantGRPCError(t, err, codes.InvalidArgument, 400, 2)
				_, err = jobsc.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id})
				wantGRPCError(t, err, codes.InvalidArgument, 400, 2)
				_, err = watchFirst(ctx, jobsc, id)
				wantGRPCError(t, err, codes.InvalidArgument, 400, 2)
			})
			t.Run("REST", func(t *testing.T) {
				ans := g.rest(t, rest, http.MethodGet, "/api/jobs/"+id, hdr, "")
				if tt.ok {
					if ans.status != 200 || string(ans.body) != `{"status":"running"}` {
						t.Fatalf("GET: %d %s", ans.status, ans.body)
					}
					return
				}
				wantBCPiiError(t, wantRESTError(t, ans, 400, 2), lp1)
				ans = g.rest(t, rest, http.MethodPost, "/api/jobs/"+id+"/operations/cancel", hdr, "")
				wantBCPiiError(t, wantRESTError(t, ans, 400, 2), lp1)
				ans = g.rest(t, rest, http.MethodDelete, "/api/jobs/"+id, hdr, "")
				wantBCPiiError(t, wantRESTError(t, ans, 400, 2), lp1)
			})
		})
	}

	// None of the refused requests canceled or deleted the job; with the
	// right target in lower case, cancel works over REST.
	got, err := jobsc.GetJob(withMD(t, rpctypes.TargetKey, part2), &bcpiiv1.GetJobRequest{JobId: id})
	if err != nil || got.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
		t.Fatalf("after the refused requests: %v, %v", got, err)
	}
	ans := g.rest(t, rest, http.MethodPost, "/api/jobs/"+id+"/operations/cancel", http.Header{"X-Api-Target-Name": {strings.ToLower(part2)}}, "")
	if ans.status != http.StatusAccepted {
		t.Fatalf("cancel with the right target: %d %s", ans.status, ans.body)
	}
	w, err := jobsc.WaitJob(withMD(t, rpctypes.TargetKey, strings.ToLower(part2)), &bcpiiv1.WaitJobRequest{JobId: id})
	if err != nil || w.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_CANCELED {
		t.Fatalf("WaitJob = %v, %v", w, err)
	}
	if _, err := jobsc.DeleteJob(withMD(t, rpctypes.TargetKey, "Ibm390ps.Cpc2.Part2"), &bcpiiv1.DeleteJobRequest{JobId: id}); err != nil {
		t.Fatalf("DeleteJob with the right target: %v", err)
	}
}

// TestInvokeTargetNameRules applies the rule to requests that start jobs
// or read the inventory: an object's own target name is required, List CPCs
// and Query API Version need none.
func TestInvokeTargetNameRules(t *testing.T) {
	ca := newCA(t, "partitions CA")
	g := startGateway(t, nil, func(c *app.Config) {
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
	})
	cert := ca.partitionCert(t, lp1)
	conn := g.grpcConn(t, cert)
	jobsc, ops := bcpiiv1.NewJobServiceClient(conn), bcpiiv1.NewOperationServiceClient(conn)
	rest := g.restClient(t, cert)

	// List CPCs without the header, over both interfaces.
	list, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: "GET", Uri: "/api/cpcs"})
	if err != nil || list.GetHttpStatus() != 200 || !strings.Contains(list.GetBody(), `"target-name":"IBM390PS.CPC1"`) {
		t.Fatalf("Invoke GET /api/cpcs without a target = %v, %v", list, err)
	}
	objs := g.discover(t, rest, nil) // GET /api/cpcs without the header, then the lists naming each CPC
	ans := g.rest(t, rest, http.MethodGet, "/api/version", nil, "")
	if ans.status != 200 {
		t.Fatalf("GET /api/version without a target: %d %s", ans.status, ans.body)
	}

	lp3Activate := objs["LP3"].uri + "/operations/activate"
	cpc1LPARs := objs["CPC1"].uri + "/logical-partitions"
	tests := []struct {
		name, method, uri, target string
		want                      int // HTTP status; 400 means 400.2
	}{
		{"LPAR operation with the CPC's target", "POST", lp3Activate, cpc1, 400},
		{"LPAR operation with another LPAR's target", "POST", lp3Activate, lp1, 400},
		{"LPAR operation without a target", "POST", lp3Activate, "", 400},
		{"LPAR operation with a malformed target", "POST", lp3Activate, "IBM390PS.CPC1.LP3.", 400},
		{"LPAR properties with the CPC's target", "GET", objs["LP3"].uri, cpc1, 400},
		{"CPC's LPAR list with an LPAR's target", "GET", cpc1LPARs, lp3, 400},
		{"CPC's LPAR list without a target", "GET", cpc1LPARs, "", 400},
		{"CPC's LPAR list with the other CPC's target", "GET", cpc1LPARs, cpc2, 400},
		{"CPC's LPAR list with the CPC's target in lower case", "GET", cpc1LPARs, strings.ToLower(cpc1), 200},
		{"LPAR properties with its own target", "GET", objs["LP3"].uri, lp3, 200},
		{"List CPCs with a name filter and no target", "GET", "/api/cpcs?name=CPC2", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: tt.method, Uri: tt.uri, TargetName: tt.target})
			hdr := http.Header{}
			if tt.target != "" {
				hdr.Set("X-API-Target-Name", tt.target)
			}
			ans := g.rest(t, rest, tt.method, tt.uri, hdr, "")
			if tt.want != 400 {
				if err != nil || resp.GetHttpStatus() != int32(tt.want) {
					t.Errorf("gRPC: %v, %v", resp, err)
				}
				if ans.status != tt.want {
					t.Errorf("REST: %d %s", ans.status, ans.body)
				}
				return
			}
			d := wantGRPCError(t, err, codes.InvalidArgument, 400, 2)
			if !d.GetBcpiiError() || d.GetRequestAuthenticatedAs() != lp1 {
				t.Errorf("gRPC detail %v", d)
			}
			wantBCPiiError(t, wantRESTError(t, ans, 400, 2), lp1)
		})
	}

	// The refused operations started nothing.
	if ids := listJobs(t, withMD(t), jobsc); len(ids) != 0 {
		t.Errorf("jobs after refused operations: %v", ids)
	}
	// With the LPAR's own target the operation starts, over either
	// interface.
	resp, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: "POST", Uri: lp3Activate, TargetName: strings.ToLower(lp3)})
	if err != nil || resp.GetHttpStatus() != 202 {
		t.Fatalf("Invoke with the LPAR's target: %v, %v", resp, err)
	}
	ans = g.rest(t, rest, http.MethodPost, objs["LP2"].uri+"/operations/activate", http.Header{"X-Api-Target-Name": {lp2}}, "")
	jobURIFromBody(t, ans)

	// Path and method are judged before the target, in the HMC's order, as
	// the REST side judges them: an unknown path under a known object is
	// 404.1 and a known path with another method 405.0.
	order := []struct {
		method, uri, target string
		code                codes.Code
		status, reason      int32
	}{
		{"POST", objs["LP3"].uri + "/operations/ipl", "", codes.NotFound, 404, 1},
		{"POST", objs["LP3"].uri + "/operations/ipl", cpc1, codes.NotFound, 404, 1},
		{"GET", lp3Activate, "", codes.Unimplemented, 405, 0},
		{"DELETE", objs["LP3"].uri, lp3, codes.Unimplemented, 405, 0},
		{"POST", "/api/version", "", codes.NotFound, 404, 1},
	}
	for _, tt := range order {
		_, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: tt.method, Uri: tt.uri, TargetName: tt.target})
		wantGRPCError(t, err, tt.code, tt.status, tt.reason)
	}
}
