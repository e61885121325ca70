package server_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

// In-process calls run the same interceptors and handlers as calls over a
// connection: identity from forwarded metadata, HMC error details, headers
// set by handlers, streams that end after the final status.
func TestInProcessCalls(t *testing.T) {
	reg, err := jobs.New(jobs.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	srv, err := server.New(server.Config{Registry: reg, Identifier: server.Forwarded{}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	conn := srv.InProcess()
	client := bcpiiv1.NewJobServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), server.PrincipalMetadataKey, "partition:IBM390PS.CPC1.LP1")
	j, err := reg.Create(ctx, jobs.Spec{Owner: ownerA, Cancelable: true})
	if err != nil {
		t.Fatal(err)
	}

	// No forwarded principal: the interceptors turn the failure into an
	// internal error with an HMC detail.
	_, err = client.GetJob(context.Background(), &bcpiiv1.GetJobRequest{JobId: j.ID})
	wantHMC(t, err, codes.Internal, 500, 0)

	var hdr metadata.MD
	got, err := client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: j.ID}, grpc.Header(&hdr))
	if err != nil || got.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
		t.Fatalf("GetJob: %v %v", got, err)
	}
	if len(hdr.Get("x-request-id")) != 1 {
		t.Errorf("header set by the logging interceptor not returned: %v", hdr)
	}
	_, err = client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: jobs.NewID()})
	wantHMC(t, err, codes.NotFound, 404, 1)

	if err := conn.Invoke(ctx, "/bcpii.v1.JobService/NoSuchMethod", &bcpiiv1.GetJobRequest{}, &bcpiiv1.GetJobResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v", err)
	}

	stream, err := client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: j.ID})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
		t.Fatalf("first: %v %v", m, err)
	}
	if _, err := reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.Job.GetJobStatusCode() != 204 {
		t.Fatalf("final: %v %v", m, err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}

	// A stream whose handler fails reports the status to Recv.
	bad, err := client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: jobs.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Recv()
	wantHMC(t, err, codes.NotFound, 404, 1)

	// A canceled caller ends its stream.
	cctx, cancel := context.WithCancel(ctx)
	j2, _ := reg.Create(ctx, jobs.Spec{Owner: ownerA})
	st, err := client.WatchJob(cctx, &bcpiiv1.WatchJobRequest{JobId: j2.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := st.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("after cancel: %v", err)
	}
}
