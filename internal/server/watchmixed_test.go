package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/protobuf/proto"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// TestWatchersOfOneJobGetOneMessage has watchers of one job on plain and
// on gzip-compressed streams, more of them compressed: whatever the server
// shares between the watchers of a job, a plain client must never be sent
// a compressed message (it refuses one). Every watcher gets every status,
// the same message.
func TestWatchersOfOneJobGetOneMessage(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := e.job(t, ownerA, "running")
	type watcher struct {
		name   string
		stream grpc.ServerStreamingClient[bcpiiv1.WatchJobResponse]
	}
	var ws []watcher
	for i := range 12 {
		var opts []grpc.CallOption
		name := fmt.Sprintf("plain %d", i)
		if i%4 != 0 {
			opts = append(opts, grpc.UseCompressor(gzip.Name))
			name = fmt.Sprintf("gzip %d", i)
		}
		s, err := e.client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, watcher{name, s})
	}
	step := func(want bcpiiv1.JobStatus) {
		t.Helper()
		var first *bcpiiv1.WatchJobResponse
		for _, w := range ws {
			m, err := w.stream.Recv()
			if err != nil {
				t.Fatalf("%s: Recv: %v", w.name, err)
			}
			if m.GetJob().GetStatus() != want {
				t.Fatalf("%s: status %v, want %v", w.name, m.GetJob().GetStatus(), want)
			}
			if first == nil {
				first = m
			} else if !proto.Equal(m, first) {
				t.Fatalf("%s got %v, %s got %v", ws[0].name, first, w.name, m)
			}
		}
	}
	step(bcpiiv1.JobStatus_JOB_STATUS_RUNNING)
	if _, err := e.client.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id}); err != nil {
		t.Fatal(err)
	}
	step(bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING)
	if _, err := e.reg.Finish(ctx, id, jobs.Result{Status: jobs.Complete, StatusCode: 200, Results: []byte(`{"message":"done"}`)}); err != nil {
		t.Fatal(err)
	}
	step(bcpiiv1.JobStatus_JOB_STATUS_COMPLETE)
}
