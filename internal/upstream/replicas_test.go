package upstream_test

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// replicaTTL is the replicas' lease TTL in these tests.
const replicaTTL = 2 * time.Second

// startReplicas starts n gateways on the hmc backend, all on the etcd
// server srv under one prefix, with up as their upstream HMC. With srv
// nil, opts name the endpoints.
func startReplicas(t testing.TB, up *upstreamGW, srv *etcdtest.Server, n int, poll time.Duration, opts ...func(*app.Config)) []*node {
	t.Helper()
	var out []*node
	for range n {
		out = append(out, startDownstream(t, up.url(), nil, poll, func(c *app.Config) {
			c.HMCCAFile = filepath.Join(up.cfg.DataDir, "tls", "gateway.crt")
			c.Store = app.StoreEtcd
			c.Etcd = app.EtcdConfig{Prefix: "/replicas/", LeaseTTL: replicaTTL, RequestTimeout: time.Second}
			if srv != nil {
				c.Etcd.Endpoints = []string{srv.Endpoint()}
			}
			for _, o := range opts {
				o(c)
			}
		}))
	}
	return out
}

// follower returns which of the replicas holds the job's claim.
func follower(t testing.TB, srv *etcdtest.Server, rs []*node, id string) int {
	t.Helper()
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := cli.Get(ctx, "/replicas/c/"+id)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 1 {
			for i, r := range rs {
				if strings.HasSuffix(string(resp.Kvs[0].Value), " "+r.cfg.DataDir) {
					return i
				}
			}
			t.Fatalf("the claim of job %s names %q, no replica", id, resp.Kvs[0].Value)
		}
	}
	t.Fatalf("no replica claimed job %s within %v", id, waitLimit)
	return -1
}

// sseCompletion reads the job-completions stream of a replica until it
// names the job, or fails once limit has passed.
func sseCompletion(t testing.TB, n *node, session string, id string, ready chan<- struct{}) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	c := n.rest(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/api/job-completions", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-API-Session", session)
	resp, err := c.http.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("job-completions stream: %v %v", resp, err)
	}
	close(ready)
	go func() {
		defer cancel()
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data:") && strings.Contains(line, id) {
				out <- line
				return
			}
		}
		close(out)
	}()
	return out
}

// TestReplicas runs three replicas on one etcd with a gateway on the
// simulated SE as their upstream HMC: a job started at one is the same at
// all; cancel, delete and the completion streams work at the others; a
// stopped follower's job is taken over and ends.
func TestReplicas(t *testing.T) {
	srv := etcdtest.Start(t)
	up := startUpstream(t, "")
	users := usersFile(t, aliceUser, alicePassword, "bob", "bob-password")
	rs := startReplicas(t, up, srv, 3, 50*time.Millisecond, func(c *app.Config) { c.UsersFile = users })
	a, b, c := rs[0], rs[1], rs[2]
	ctx := context.Background()
	ga, gc := a.grpc(t), c.grpc(t)

	// A partition stop by alice at A; B and C answer the same bytes at once.
	aliceA := a.rest(t).logon(t, aliceUser, alicePassword)
	code, body := a.rest(t).do(t, "POST", "/api/partitions/"+part2ID+"/operations/stop", "", "X-API-Session", aliceA)
	if code != 202 {
		t.Fatalf("partition stop at A: %d %s", code, body)
	}
	stopURI := strings.TrimSuffix(strings.TrimPrefix(body, `{"job-uri":"`), `"}`)
	_, onA := a.rest(t).do(t, "GET", stopURI, "", "X-API-Session", aliceA)
	for i, r := range rs[1:] {
		code, got := r.rest(t).do(t, "GET", stopURI, "", "X-API-Session", aliceA)
		wantREST(t, "the job at replica "+string(rune('B'+i))+" with A's session", code, got, 200, onA)
	}

	// Isolation across replicas: another user, and the local partition,
	// at B see A's job exactly as a job that does not exist.
	isolated(t, b, stopURI, aliceA)

	// Watchers at C, over SSE and gRPC, see A's job complete.
	ready := make(chan struct{})
	sse := sseCompletion(t, c, aliceA, strings.TrimPrefix(stopURI, "/api/jobs/"), ready)
	<-ready
	wctx, wcancel := context.WithTimeout(gc.logon(t, ctx, aliceUser, alicePassword), waitLimit)
	defer wcancel()
	stream, err := gc.jobs.WatchJobCompletions(wctx, &bcpiiv1.WatchJobCompletionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	up.clock.Advance(3 * time.Second)
	done, err := stream.Recv()
	if err != nil || done.JobUri != stopURI || done.Job.GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
		t.Fatalf("gRPC completion at C: %v %v, want %s complete", done, err, stopURI)
	}
	if line, ok := <-sse; !ok {
		t.Fatalf("SSE completion at C: %q", line)
	}

	// Cancel at B, delete at C, of a job A started.
	start := ga.start(t, ctx, "/api/partitions/"+part1ID+"/operations/start", part1, "")
	code, body = b.rest(t).do(t, "POST", "/api/jobs/"+start+"/operations/cancel", "", "X-API-Target-Name", part1)
	wantREST(t, "cancel at B", code, body, 202, "")
	j := gc.wait(t, withTarget(ctx, part1), start)
	if j.Status != bcpiiv1.JobStatus_JOB_STATUS_CANCELED {
		t.Fatalf("the job canceled at B ended %v", j)
	}
	code, body = c.rest(t).do(t, "DELETE", "/api/jobs/"+start, "", "X-API-Target-Name", part1)
	wantREST(t, "delete at C", code, body, 204, "")
	code, body = a.rest(t).do(t, "GET", "/api/jobs/"+start, "", "X-API-Target-Name", part1)
	if code != 404 {
		t.Fatalf("the job deleted at C is at A: %d %s", code, body)
	}

	// The follower of a running job stops; another takes it over, and
	// the job ends once the upstream's does.
	act := ga.start(t, ctx, "/api/logical-partitions/"+lp2ID+"/operations/activate", lp2, "")
	f := follower(t, srv, rs, act)
	rs[f].stop(t)
	other := rs[(f+1)%3]
	if g := follower(t, srv, rs, act); g == f {
		t.Fatalf("the stopped replica still holds job %s", act)
	}
	up.clock.Advance(3 * time.Second)
	j = other.grpc(t).wait(t, withTarget(ctx, lp2), act)
	if j.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || j.GetJobStatusCode() != 200 {
		t.Fatalf("the taken-over job ended %v", j)
	}

	// etcd down: queries answer 503.1 in the HMC's words, over REST and
	// gRPC; once it is back, the same replica answers again by itself.
	srv.Stop()
	code, body = other.rest(t).do(t, "GET", "/api/jobs/"+act, "", "X-API-Target-Name", lp2)
	if code != 503 || !strings.Contains(body, `"reason":1`) || strings.Contains(strings.ToLower(body), "etcd") || strings.Contains(body, "context") {
		t.Errorf("REST with etcd down: %d %s, want 503.1 without the store's words", code, body)
	}
	_, err = other.grpc(t).jobs.GetJob(withTarget(ctx, lp2), &bcpiiv1.GetJobRequest{JobId: act})
	wantStatus(t, err, codes.Unavailable, 503, 1)
	if st, _ := status.FromError(err); strings.Contains(strings.ToLower(st.Message()), "etcd") {
		t.Errorf("gRPC with etcd down says %q", st.Message())
	}
	srv.Restart()
	deadline := time.Now().Add(waitLimit)
	for {
		code, body = other.rest(t).do(t, "GET", "/api/jobs/"+act, "", "X-API-Target-Name", lp2)
		if code == 200 || time.Now().After(deadline) {
			break
		}
	}
	if code != 200 || !strings.Contains(body, `"status":"complete"`) {
		t.Errorf("after etcd is back: %d %s", code, body)
	}
}

// isolated checks at replica n that other principals than the owner get
// for job uri the answers they get for a missing job, on every job
// operation, and that the owner's session still sees it there.
func isolated(t *testing.T, n *node, uri, ownerSession string) {
	t.Helper()
	rc := n.rest(t)
	bob := rc.logon(t, "bob", "bob-password")
	missing := "/api/jobs/" + "00000000-0000-4000-8000-000000000000"
	for _, who := range []struct {
		name    string
		headers []string
	}{{"bob", []string{"X-API-Session", bob}}, {"the local partition", []string{"X-API-Target-Name", lp2}}} {
		for _, op := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/operations/cancel"}, {"DELETE", ""}} {
			code, body := rc.do(t, op.method, uri+op.suffix, "", who.headers...)
			mcode, mbody := rc.do(t, op.method, missing+op.suffix, "", who.headers...)
			if code != 404 || code != mcode || !strings.Contains(body, `"reason":1`) ||
				strings.ReplaceAll(body, uri, missing) != mbody {
				t.Errorf("%s %s%s by %s at another replica: %d %s; for a missing job %d %s", op.method, uri, op.suffix, who.name, code, body, mcode, mbody)
			}
		}
	}
	if code, body := rc.do(t, "GET", uri, "", "X-API-Session", ownerSession); code != 200 {
		t.Errorf("the owner at another replica: %d %s", code, body)
	}

	// And over gRPC, every job call, as bob and as the local partition.
	g := n.grpc(t)
	id := strings.TrimPrefix(uri, "/api/jobs/")
	for who, ctx := range map[string]context.Context{
		"bob":                 g.logon(t, context.Background(), "bob", "bob-password"),
		"the local partition": withTarget(context.Background(), lp2),
	} {
		calls := map[string]func(id string) error{
			"GetJob": func(id string) error { _, err := g.jobs.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: id}); return err },
			"CancelJob": func(id string) error {
				_, err := g.jobs.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id})
				return err
			},
			"DeleteJob": func(id string) error {
				_, err := g.jobs.DeleteJob(ctx, &bcpiiv1.DeleteJobRequest{JobId: id})
				return err
			},
			"WaitJob": func(id string) error {
				_, err := g.jobs.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: durationpb.New(time.Millisecond)})
				return err
			},
			"WatchJob": func(id string) error {
				s, err := g.jobs.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
				if err != nil {
					return err
				}
				_, err = s.Recv()
				return err
			},
		}
		for name, call := range calls {
			err, missingErr := call(id), call(strings.TrimPrefix(missing, "/api/jobs/"))
			st, mst := status.Convert(err), status.Convert(missingErr)
			if st.Code() != codes.NotFound || st.Code() != mst.Code() || st.Message() != mst.Message() {
				t.Errorf("%s of another's job by %s at another replica: %v; for a missing job %v", name, who, err, missingErr)
			}
		}
	}
}
