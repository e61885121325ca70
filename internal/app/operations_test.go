package app_test

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// TestOperationBodiesOverBothInterfaces starts LPAR operations with
// request bodies over gRPC (OperationService.Invoke) and over the REST
// operation paths. The body is the backend's to judge, so both interfaces
// answer alike: the simulated SE's body fields (force, load-address, ...)
// take effect over REST as over gRPC, and its body errors are the same.
func TestOperationBodiesOverBothInterfaces(t *testing.T) {
	g := startGateway(t, nil) // loopback callers are the local partition LP1
	rest := g.restClient(t)
	conn := g.grpcConn(t)
	ops, jobsc := bcpiiv1.NewOperationServiceClient(conn), bcpiiv1.NewJobServiceClient(conn)
	objs := g.discover(t, rest, nil)
	activate := objs["LP1"].uri + "/operations/activate"
	load := objs["LP1"].uri + "/operations/load"

	tests := []struct {
		name, uri, body string
		status, reason  int // the synchronous answer
		jobStatus       int // for a 202: the job's job-status-code
	}{
		// LP1 is operating: activate needs force, else the job ends 409.1.
		{"activate with force", activate, `{"force":true}`, 202, 0, 200},
		{"activate without force", activate, "", 202, 0, 409},
		{"activate with force false", activate, `{"force":false}`, 202, 0, 409},
		{"activate with an empty object", activate, `{}`, 202, 0, 409},
		{"load with force and an address", load, `{"force":true,"load-address":"00C1","load-parameter":"X"}`, 202, 0, 200},
		{"activate with a profile and force", activate, `{"activation-profile-name":"LP1","force":true}`, 202, 0, 200},
		{"force of the wrong type", activate, `{"force":"yes"}`, 400, 7, 0},
		{"body not an object", activate, `[true]`, 400, 7, 0},
		{"body not well-formed JSON", activate, `{"force":`, 400, 7, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: "POST", Uri: tt.uri, TargetName: lp1, Body: tt.body})
			grpcJob := ""
			if tt.status == 202 {
				if err != nil || resp.GetHttpStatus() != 202 {
					t.Fatalf("gRPC: %v, %v", resp, err)
				}
				grpcJob = jobIDFromURI(t, resp.GetJobUri())
				g.wantJobEnds(t, jobsc, grpcJob, tt.jobStatus)
			} else {
				d, _ := rpctypes.HMCDetail(err)
				if status.Code(err) == codes.OK || d.GetHttpStatus() != int32(tt.status) || d.GetReason() != int32(tt.reason) {
					t.Errorf("gRPC: %v, %v; want %d.%d", resp, err, tt.status, tt.reason)
				}
			}

			ans := g.rest(t, rest, http.MethodPost, tt.uri, http.Header{"X-Api-Target-Name": {lp1}}, tt.body)
			if tt.status != 202 {
				// The simulated SE judged the body: bcpii-error false.
				e := wantRESTError(t, ans, tt.status, tt.reason)
				if e.AuthenticatedAs == nil || *e.AuthenticatedAs != lp1 || e.BCPiiError == nil || *e.BCPiiError {
					t.Errorf("error %s: want request-authenticated-as %s and bcpii-error false", ans.body, lp1)
				}
				return
			}
			g.wantJobEnds(t, jobsc, jobIDFromURI(t, jobURIFromBody(t, ans)), tt.jobStatus)
		})
	}
}

// wantJobEnds lets the simulated SE's 3s pass and waits, as LP1, for an
// LP1 job to end with job-status-code want.
func (g *gateway) wantJobEnds(t *testing.T, jobsc bcpiiv1.JobServiceClient, id string, want int) {
	t.Helper()
	g.clock.Advance(3 * time.Second)
	r, err := jobsc.WaitJob(withMD(t, rpctypes.TargetKey, lp1), &bcpiiv1.WaitJobRequest{JobId: id})
	if err != nil || r.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || r.GetJob().GetJobStatusCode() != int32(want) {
		t.Fatalf("job %s: %v, %v; want complete %d", id, r, err, want)
	}
}
