package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// localAuth authenticates local callers as the partition named.
func localAuth(t testing.TB, partition string) *bcpii.Authenticator {
	t.Helper()
	tn, err := bcpii.ParseTargetName(partition)
	if err != nil {
		t.Fatal(err)
	}
	p, err := bcpii.PartitionPrincipal(tn)
	if err != nil {
		t.Fatal(err)
	}
	return &bcpii.Authenticator{Local: p}
}

const (
	partA = "IBM390PS.CPC1.LP1"
	partB = "IBM390PS.CPC1.LP2"
)

var (
	ownerA = jobs.Owner{Kind: jobs.PartitionOwner, Name: partA}
	ownerB = jobs.Owner{Kind: jobs.PartitionOwner, Name: partB}
	epoch  = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
)

// env is a gRPC server on a real loopback listener, whose loopback callers
// are the local partition A, with a registry on a fake clock.
type env struct {
	reg    *jobs.Registry
	clock  *clocktest.Fake
	client bcpiiv1.JobServiceClient
	conn   *grpc.ClientConn
	logs   *syncBuffer
}

type syncBuffer = apptest.LogBuffer

// newEnv starts an env on st; nil means a memstore.
func newEnv(t testing.TB, st jobs.Store) *env {
	t.Helper()
	fc := clocktest.NewFake(epoch)
	if st == nil {
		st = memstore.New()
	}
	reg, err := jobs.New(jobs.Config{Store: st, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := server.New(server.Config{
		Registry:      reg,
		Authenticator: localAuth(t, partA),
		Loopback:      true,
		Logger:        slog.New(slog.NewTextHandler(logs, nil)),
		Clock:         fc,
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	opts := append(apptest.CallLimit(10*time.Second), grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		reg.Close()
	})
	return &env{reg: reg, clock: fc, client: bcpiiv1.NewJobServiceClient(conn), conn: conn, logs: logs}
}

// job makes a job of owner in the given state, the way a backend would.
func (e *env) job(t testing.TB, owner jobs.Owner, state string) string {
	t.Helper()
	ctx := context.Background()
	j, err := e.reg.Create(ctx, jobs.Spec{Owner: owner, Operation: "test", Cancelable: state != "uncancelable"})
	if err != nil {
		t.Fatal(err)
	}
	switch state {
	case "running", "uncancelable":
	case "cancel-pending":
		if _, err := e.reg.Cancel(ctx, jobs.Caller{Owner: owner}, j.ID); err != nil {
			t.Fatal(err)
		}
	case "complete":
		if _, err := e.reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	case "canceled":
		if _, err := e.reg.Cancel(ctx, jobs.Caller{Owner: owner}, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Canceled, StatusCode: 500, ReasonCode: 263}); err != nil {
			t.Fatal(err)
		}
	case "expired":
		if _, err := e.reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(jobs.MinRetention + time.Second)
	case "deleted":
		if _, err := e.reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
			t.Fatal(err)
		}
		if err := e.reg.Delete(ctx, jobs.Caller{Owner: owner}, j.ID); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown state %q", state)
	}
	return j.ID
}

// wantHMC checks that err is a status with code and an HMC detail of
// httpStatus.reason.
func wantHMC(t *testing.T, err error, code codes.Code, httpStatus, reason int32) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %v %d.%d", code, httpStatus, reason)
	}
	if got := status.Code(err); got != code {
		t.Errorf("code = %v, want %v (%v)", got, code, err)
	}
	d, ok := rpctypes.HMCDetail(err)
	if !ok {
		t.Fatalf("no HmcError detail in %v", err)
	}
	if d.HttpStatus != httpStatus || d.Reason != reason {
		t.Errorf("HMC = %d.%d, want %d.%d", d.HttpStatus, d.Reason, httpStatus, reason)
	}
	if d.Message == "" {
		t.Error("HMC detail has no message")
	}
}

// The rows of the spec's Cancel Job table that gRPC can express (a request
// body exists only over REST).
func TestCancelJobTable(t *testing.T) {
	tests := []struct {
		name   string
		owner  jobs.Owner
		state  string
		id     string // overrides the created job's id
		code   codes.Code
		status int32
		reason int32
		after  bcpiiv1.JobStatus
	}{
		{name: "running and cancelable", owner: ownerA, state: "running", code: codes.OK, after: bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING},
		{name: "not found", owner: ownerA, state: "running", id: "0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10", code: codes.NotFound, status: 404, reason: 1},
		{name: "malformed id", owner: ownerA, state: "running", id: "not-a-job", code: codes.NotFound, status: 404, reason: 1},
		{name: "not owned", owner: ownerB, state: "running", code: codes.NotFound, status: 404, reason: 1},
		{name: "expired", owner: ownerA, state: "expired", code: codes.NotFound, status: 404, reason: 1},
		{name: "deleted", owner: ownerA, state: "deleted", code: codes.NotFound, status: 404, reason: 1},
		{name: "not cancelable", owner: ownerA, state: "uncancelable", code: codes.FailedPrecondition, status: 404, reason: 4, after: bcpiiv1.JobStatus_JOB_STATUS_RUNNING},
		{name: "already complete", owner: ownerA, state: "complete", code: codes.FailedPrecondition, status: 409, reason: 41, after: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE},
		{name: "already canceled", owner: ownerA, state: "canceled", code: codes.FailedPrecondition, status: 409, reason: 41, after: bcpiiv1.JobStatus_JOB_STATUS_CANCELED},
		{name: "cancel pending", owner: ownerA, state: "cancel-pending", code: codes.FailedPrecondition, status: 409, reason: 42, after: bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx := context.Background()
			id := e.job(t, tc.owner, tc.state)
			if tc.id != "" {
				id = tc.id
			}
			_, err := e.client.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id})
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("CancelJob: %v", err)
				}
			} else {
				wantHMC(t, err, tc.code, tc.status, tc.reason)
			}
			if tc.after != bcpiiv1.JobStatus_JOB_STATUS_UNSPECIFIED {
				got, err := e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: id})
				if err != nil {
					t.Fatalf("GetJob after cancel: %v", err)
				}
				if got.Job.Status != tc.after {
					t.Errorf("status after cancel = %v, want %v", got.Job.Status, tc.after)
				}
			}
		})
	}
}

func TestDeleteJobTable(t *testing.T) {
	tests := []struct {
		name   string
		owner  jobs.Owner
		state  string
		id     string
		code   codes.Code
		status int32
		reason int32
	}{
		{name: "complete", owner: ownerA, state: "complete", code: codes.OK},
		{name: "canceled", owner: ownerA, state: "canceled", code: codes.OK},
		{name: "running", owner: ownerA, state: "running", code: codes.FailedPrecondition, status: 409, reason: 40},
		{name: "cancel pending", owner: ownerA, state: "cancel-pending", code: codes.FailedPrecondition, status: 409, reason: 40},
		{name: "not found", owner: ownerA, state: "complete", id: "0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10", code: codes.NotFound, status: 404, reason: 1},
		{name: "upper-case id", owner: ownerA, state: "complete", id: "upper", code: codes.NotFound, status: 404, reason: 1},
		{name: "not owned", owner: ownerB, state: "complete", code: codes.NotFound, status: 404, reason: 1},
		{name: "expired", owner: ownerA, state: "expired", code: codes.NotFound, status: 404, reason: 1},
		{name: "already deleted", owner: ownerA, state: "deleted", code: codes.NotFound, status: 404, reason: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx := context.Background()
			id := e.job(t, tc.owner, tc.state)
			switch tc.id {
			case "":
			case "upper":
				id = strings.ToUpper(id)
			default:
				id = tc.id
			}
			_, err := e.client.DeleteJob(ctx, &bcpiiv1.DeleteJobRequest{JobId: id})
			if tc.code != codes.OK {
				wantHMC(t, err, tc.code, tc.status, tc.reason)
				return
			}
			if err != nil {
				t.Fatalf("DeleteJob: %v", err)
			}
			_, err = e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: id})
			wantHMC(t, err, codes.NotFound, 404, 1)
			_, err = e.client.DeleteJob(ctx, &bcpiiv1.DeleteJobRequest{JobId: id})
			wantHMC(t, err, codes.NotFound, 404, 1)
		})
	}
}

func TestGetJobFieldsPerState(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	results := `{"big":12345678901234567890,"nested":{"b":[1,2],"a":"x"}}`
	mk := func(res jobs.Result) string {
		j, err := e.reg.Create(ctx, jobs.Spec{Owner: ownerA, Cancelable: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != "" {
			if _, err := e.reg.Finish(ctx, j.ID, res); err != nil {
				t.Fatal(err)
			}
		}
		return j.ID
	}
	i32 := func(v int32) *int32 { return &v }
	str := func(v string) *string { return &v }
	tests := []struct {
		name string
		id   string
		want *bcpiiv1.Job
	}{
		{"running", mk(jobs.Result{}), &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_RUNNING}},
		{"complete 204", mk(jobs.Result{Status: jobs.Complete, StatusCode: 204, ReasonCode: 9}),
			&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: i32(204)}},
		{"complete 200 with results", mk(jobs.Result{Status: jobs.Complete, StatusCode: 200, Results: []byte(results)}),
			&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: i32(200), JobResults: str(results)}},
		{"complete 409.1", mk(jobs.Result{Status: jobs.Complete, StatusCode: 409, ReasonCode: 1}),
			&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: i32(409), JobReasonCode: i32(1)}},
		{"complete 500 reason 0", mk(jobs.Result{Status: jobs.Complete, StatusCode: 500}),
			&bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: i32(500), JobReasonCode: i32(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: tc.id})
			if err != nil {
				t.Fatal(err)
			}
			g, w := got.Job, tc.want
			if g.Status != w.Status || !eqPtr(g.JobStatusCode, w.JobStatusCode) ||
				!eqPtr(g.JobReasonCode, w.JobReasonCode) || !eqPtr(g.JobResults, w.JobResults) {
				t.Errorf("GetJob = %v, want %v", g, w)
			}
		})
	}
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestRetentionBoundary(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	kept := e.job(t, ownerA, "complete")
	e.clock.Advance(jobs.MinRetention - time.Second)
	if _, err := e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: kept}); err != nil {
		t.Fatalf("4h-1s after the end: %v", err)
	}
	e.clock.Advance(2 * time.Second)
	_, err := e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: kept})
	wantHMC(t, err, codes.NotFound, 404, 1)
}

func TestWaitJobTimesOutOnInjectedClock(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := e.job(t, ownerA, "running")
	type answer struct {
		resp *bcpiiv1.WaitJobResponse
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		r, err := e.client.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: durationpb.New(30 * time.Second)})
		got <- answer{r, err}
	}()
	waitTimers(t, e.clock, 1)
	e.clock.Advance(29 * time.Second)
	select {
	case a := <-got:
		t.Fatalf("WaitJob returned before its timeout: %v %v", a.resp, a.err)
	default:
	}
	e.clock.Advance(time.Second)
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	if !a.resp.TimedOut || a.resp.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
		t.Errorf("WaitJob = %v, want timed out while running", a.resp)
	}
}

func TestWaitJobReturnsWhenJobEnds(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := e.job(t, ownerA, "running")
	got := make(chan *bcpiiv1.WaitJobResponse, 1)
	go func() {
		r, err := e.client.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id})
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	waitTimers(t, e.clock, 1)
	if _, err := e.reg.Finish(ctx, id, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r == nil || r.TimedOut || r.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || r.Job.GetJobStatusCode() != 204 {
		t.Errorf("WaitJob = %v, want complete 204", r)
	}
}

func waitTimers(t *testing.T, c *clocktest.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !c.WaitForTimers(n, ctx.Done()) {
		t.Fatalf("no %d timer(s) started within 10s", n)
	}
}

func TestWatchJobStreamsEveryTransition(t *testing.T) {
	e := newEnv(t, nil)
	// Bounds every Recv: a stream that stops fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := e.job(t, ownerA, "running")
	stream, err := e.client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	recv := func() bcpiiv1.JobStatus {
		t.Helper()
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		return m.Job.Status
	}
	if s := recv(); s != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
		t.Fatalf("first = %v", s)
	}
	if _, err := e.client.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id}); err != nil {
		t.Fatal(err)
	}
	if s := recv(); s != bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING {
		t.Fatalf("second = %v", s)
	}
	if _, err := e.reg.Finish(ctx, id, jobs.Result{Status: jobs.Canceled, StatusCode: 500, ReasonCode: 263}); err != nil {
		t.Fatal(err)
	}
	if s := recv(); s != bcpiiv1.JobStatus_JOB_STATUS_CANCELED {
		t.Fatalf("third = %v", s)
	}
	// The stream lingers a moment after the final status.
	if !e.clock.WaitForTimerWithin(server.MaxStreamLinger, ctx.Done()) {
		t.Fatal("the stream did not linger after its final status")
	}
	e.clock.Advance(server.MaxStreamLinger)
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after the end: %v, want io.EOF", err)
	}
}

func TestWatchJobOfAnotherPartition(t *testing.T) {
	e := newEnv(t, nil)
	id := e.job(t, ownerB, "running")
	stream, err := e.client.WatchJob(context.Background(), &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	wantHMC(t, err, codes.NotFound, 404, 1)
}

func TestListJobsOwnOnlyAndPaged(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var mine []string
	for i := 0; i < 5; i++ {
		mine = append(mine, e.job(t, ownerA, "running"))
		e.job(t, ownerB, "running")
	}
	done := e.job(t, ownerA, "complete")
	var got []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		r, err := e.client.ListJobs(ctx, &bcpiiv1.ListJobsRequest{PageSize: 2, PageToken: tok, Status: bcpiiv1.JobStatus_JOB_STATUS_RUNNING})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range r.Jobs {
			got = append(got, j.JobId)
			if j.JobUri != "/api/jobs/"+j.JobId || j.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
				t.Errorf("entry %v", j)
			}
		}
		if tok = r.NextPageToken; tok == "" {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(mine, ",") {
		t.Errorf("listed %v, want %v", got, mine)
	}
	r, err := e.client.ListJobs(ctx, &bcpiiv1.ListJobsRequest{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Jobs) != 1 || r.Jobs[0].JobId != done || r.Jobs[0].EndTime == nil {
		t.Errorf("complete jobs = %v, want only %s", r.Jobs, done)
	}
	_, err = e.client.ListJobs(ctx, &bcpiiv1.ListJobsRequest{PageToken: "garbage"})
	wantHMC(t, err, codes.InvalidArgument, 400, 7)
	_, err = e.client.ListJobs(ctx, &bcpiiv1.ListJobsRequest{PageSize: 1001})
	wantHMC(t, err, codes.InvalidArgument, 400, 7)
}

// faultyStore is a real memstore whose job reads fail: by panicking, or
// with an error carrying internal text.
type faultyStore struct {
	jobs.Store
	panics bool
}

func (f faultyStore) GetOwned(context.Context, jobs.Owner, string) (jobs.Job, error) {
	if f.panics {
		panic("store exploded")
	}
	return jobs.Job{}, errors.New("secret-internal-detail")
}

func TestPanicBecomesInternalAndServerLives(t *testing.T) {
	e := newEnv(t, faultyStore{Store: memstore.New(), panics: true})
	ctx := context.Background()
	_, err := e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: jobs.NewID()})
	wantHMC(t, err, codes.Internal, 500, 0)
	if strings.Contains(status.Convert(err).Message(), "exploded") {
		t.Error("panic value leaked to the caller")
	}
	stream, err := e.client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: jobs.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	wantHMC(t, err, codes.Internal, 500, 0)
	// The server still answers.
	h, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "bcpii.v1.JobService"})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after panic: %v %v", h, err)
	}
	if !strings.Contains(e.logs.String(), "panic in handler") || !strings.Contains(e.logs.String(), "store exploded") {
		t.Errorf("panic not logged: %s", e.logs.String())
	}
}

func TestInternalCauseIsLoggedNotSent(t *testing.T) {
	e := newEnv(t, faultyStore{Store: memstore.New()})
	var hdr metadata.MD
	_, err := e.client.GetJob(context.Background(), &bcpiiv1.GetJobRequest{JobId: jobs.NewID()}, grpc.Header(&hdr))
	wantHMC(t, err, codes.Internal, 500, 0)
	if strings.Contains(err.Error(), "secret-internal-detail") {
		t.Errorf("internal cause sent to the caller: %v", err)
	}
	ids := hdr.Get("x-request-id")
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("x-request-id header = %v", ids)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "secret-internal-detail") || !strings.Contains(logs, "request_id="+ids[0]) {
		t.Errorf("cause or request id not logged: %s", logs)
	}
}

func TestHealthAndReflection(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, svc := range []string{"", "bcpii.v1.JobService"} {
		h, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, h, err)
		}
	}
	rc, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.CloseSend()
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "bcpii.v1.JobService") || !slices.Contains(names, "grpc.health.v1.Health") {
		t.Errorf("reflection lists %v", names)
	}
}

func TestWatchJobCompletionsResumeFromCursor(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ids []string
	for range 4 {
		ids = append(ids, e.job(t, ownerA, "running"))
	}
	other := e.job(t, ownerB, "running")
	finish := func(id string) {
		t.Helper()
		if _, err := e.reg.Finish(ctx, id, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	sctx, stop := context.WithCancel(ctx)
	stream, err := e.client.WatchJobCompletions(sctx, &bcpiiv1.WatchJobCompletionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // the stream is accepted
		t.Fatal(err)
	}
	finish(other)
	finish(ids[0])
	m, err := stream.Recv()
	if err != nil || m.JobId != ids[0] || m.JobUri != "/api/jobs/"+ids[0] || m.Job.GetJobStatusCode() != 200 || m.Cursor == "" {
		t.Fatalf("first completion %v %v", m, err)
	}
	stop() // the client goes away
	finish(ids[1])
	finish(ids[2])
	stream2, err := e.client.WatchJobCompletions(ctx, &bcpiiv1.WatchJobCompletionsRequest{Cursor: m.Cursor})
	if err != nil {
		t.Fatal(err)
	}
	finish(ids[3])
	for _, want := range ids[1:] {
		m, err := stream2.Recv()
		if err != nil || m.JobId != want {
			t.Fatalf("resumed completion %v %v, want %s", m, err, want)
		}
	}
	_, err = e.client.WatchJobCompletions(ctx, &bcpiiv1.WatchJobCompletionsRequest{Cursor: "not-a-cursor"})
	if err == nil {
		bad, _ := e.client.WatchJobCompletions(ctx, &bcpiiv1.WatchJobCompletionsRequest{Cursor: "not-a-cursor"})
		_, err = bad.Recv()
	}
	wantHMC(t, err, codes.InvalidArgument, 400, 7)
}

func TestWatchJobResumeFromCursor(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := e.job(t, ownerA, "running")
	stream, err := e.client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Cancel(ctx, jobs.Caller{Owner: ownerA}, id); err != nil {
		t.Fatal(err)
	}
	resumed, err := e.client.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id, Cursor: first.Cursor})
	if err != nil {
		t.Fatal(err)
	}
	m, err := resumed.Recv()
	if err != nil || m.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING {
		t.Fatalf("resumed stream starts with %v %v, want cancel-pending", m, err)
	}
}

// Serve gives calls in flight the shutdown grace, on the server's clock,
// and then cuts them.
func TestShutdownGraceCutsStreams(t *testing.T) {
	fc := clocktest.NewFake(epoch)
	reg, err := jobs.New(jobs.Config{Store: memstore.New(), Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	srv, err := server.New(server.Config{Registry: reg, Authenticator: localAuth(t, partA), Loopback: true, Clock: fc, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, lis) }()
	opts := append(apptest.CallLimit(10*time.Second), grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Bounds the waits below: a shutdown that never ends fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := reg.Create(ctx, jobs.Spec{Owner: ownerA, Operation: "test"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := bcpiiv1.NewJobServiceClient(conn).WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: j.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	stop()
	if !fc.WaitForTimerWithin(5*time.Second, ctx.Done()) {
		t.Fatal("no shutdown grace timer")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned before the grace passed: %v", err)
	default:
	}
	fc.Advance(5 * time.Second)
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return once the grace passed")
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream after the grace: %v, want Unavailable", err)
	}
}

// TestEveryCallHasItsOwnRequestID makes calls from many goroutines at
// once: each answer carries one x-request-id of 16 hex digits, no two the
// same, each the one its call's log line names.
func TestEveryCallHasItsOwnRequestID(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := e.job(t, ownerA, "running")
	const callers, calls = 16, 25
	got := make(chan string, callers*calls)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			for range calls {
				var hdr metadata.MD
				if _, err := e.client.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: id}, grpc.Header(&hdr)); err != nil {
					errs <- err
					return
				}
				ids := hdr.Get("x-request-id")
				if len(ids) != 1 {
					errs <- fmt.Errorf("x-request-id = %q", ids)
					return
				}
				got <- ids[0]
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(got)
	seen := map[string]bool{}
	logs := e.logs.String()
	for rid := range got {
		if len(rid) != 16 || strings.Trim(rid, "0123456789abcdef") != "" {
			t.Fatalf("request id %q is not 16 hex digits", rid)
		}
		if seen[rid] {
			t.Fatalf("request id %q answered twice", rid)
		}
		seen[rid] = true
		if !strings.Contains(logs, "request_id="+rid) {
			t.Fatalf("request id %q not in the log", rid)
		}
	}
	if len(seen) != callers*calls {
		t.Fatalf("%d ids, want %d", len(seen), callers*calls)
	}
}
