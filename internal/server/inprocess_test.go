package server_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

// inProcess is a server's in-process connection, its registry and a
// context that says the call comes over a local connection: the local
// partition A's.
func inProcess(t *testing.T) (*jobs.Registry, grpc.ClientConnInterface, context.Context) {
	t.Helper()
	reg, err := jobs.New(jobs.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	srv, err := server.New(server.Config{Registry: reg, Authenticator: localAuth(t, partA)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	// The deadline bounds every call and stream read of the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	ctx = server.WithRequest(ctx, &server.Request{Decision: localAuth(t, partA).Decide(bcpii.Credentials{Local: true})})
	return reg, srv.InProcess(), ctx
}

// In-process calls run the same interceptors and handlers as calls over a
// connection: identity from the caller's credentials, HMC error details, headers
// set by handlers, streams that end after the final status.
func TestInProcessCalls(t *testing.T) {
	reg, conn, ctx := inProcess(t)
	client := bcpiiv1.NewJobServiceClient(conn)
	j, err := reg.Create(ctx, jobs.Spec{Owner: ownerA, Cancelable: true})
	if err != nil {
		t.Fatal(err)
	}

	// No credentials: no identity, and no session either.
	_, err = client.GetJob(context.Background(), &bcpiiv1.GetJobRequest{JobId: j.ID})
	wantHMC(t, err, codes.Unauthenticated, 403, 4)

	got, err := client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: j.ID})
	if err != nil || got.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
		t.Fatalf("GetJob: %v %v", got, err)
	}
	// The REST request the calls belong to records them, for its one
	// access line.
	if r := server.HolderFrom(ctx).ServerRequest(); r.Calls != 1 || r.Method != "/bcpii.v1.JobService/GetJob" || r.Code != codes.OK {
		t.Errorf("the request recorded %d calls, the last %s %s; want 1, GetJob, OK", r.Calls, r.Method, r.Code)
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

// A pushed in-process stream hands each message to the receiver on the
// handler's goroutine, then its end; a receiver that refuses a message
// ends the stream; a stream pushed after its handler returned ends at once.
func TestInProcessPush(t *testing.T) {
	reg, conn, ctx := inProcess(t)
	watch := func(id string) (grpc.ClientStream, server.Pusher) {
		t.Helper()
		cs, err := conn.NewStream(ctx, &bcpiiv1.JobService_ServiceDesc.Streams[0], bcpiiv1.JobService_WatchJob_FullMethodName)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&bcpiiv1.WatchJobRequest{JobId: id}); err != nil {
			t.Fatal(err)
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var first bcpiiv1.WatchJobResponse
		if err := cs.RecvMsg(&first); err != nil || first.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
			t.Fatalf("first: %v %v", &first, err)
		}
		p, ok := cs.(server.Pusher)
		if !ok {
			t.Fatalf("in-process stream %T cannot push", cs)
		}
		return cs, p
	}
	type pushed struct {
		statuses []bcpiiv1.JobStatus
		end      error
	}
	push := func(p server.Pusher, refuse bool) <-chan pushed {
		ch := make(chan pushed, 1)
		var got pushed
		p.Push(func(m proto.Message) error {
			got.statuses = append(got.statuses, m.(*bcpiiv1.WatchJobResponse).Job.Status)
			if refuse {
				return errors.New("client gone")
			}
			return nil
		}, func(err error) {
			got.end = err
			ch <- got
		})
		return ch
	}

	j, _ := reg.Create(ctx, jobs.Spec{Owner: ownerA, Cancelable: true})
	_, p := watch(j.ID)
	ch := push(p, false)
	if _, err := reg.Cancel(ctx, jobs.Caller{Owner: ownerA}, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Canceled, StatusCode: 409}); err != nil {
		t.Fatal(err)
	}
	got := <-ch
	// cancel-pending may be coalesced away; the final status never is.
	if n := len(got.statuses); n == 0 || got.statuses[n-1] != bcpiiv1.JobStatus_JOB_STATUS_CANCELED || got.end != io.EOF {
		t.Fatalf("pushed %v, ended with %v", got.statuses, got.end)
	}

	j2, _ := reg.Create(ctx, jobs.Spec{Owner: ownerA})
	_, p = watch(j2.ID)
	ch = push(p, true)
	if _, err := reg.Finish(ctx, j2.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if got := <-ch; len(got.statuses) != 1 || status.Code(got.end) != codes.Canceled {
		t.Fatalf("refused: pushed %v, ended with %v", got.statuses, got.end)
	}

	// A handler that fails at once: pushing to its stream ends it with
	// the handler's error (its header, sent as it returns, is the sign).
	cs, err := conn.NewStream(ctx, &bcpiiv1.JobService_ServiceDesc.Streams[0], bcpiiv1.JobService_WatchJob_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(&bcpiiv1.WatchJobRequest{JobId: jobs.NewID()}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Header(); err != nil {
		t.Fatal(err)
	}
	got = <-push(cs.(server.Pusher), false)
	if len(got.statuses) != 0 {
		t.Errorf("a failed stream pushed %v", got.statuses)
	}
	wantHMC(t, got.end, codes.NotFound, 404, 1)
}
