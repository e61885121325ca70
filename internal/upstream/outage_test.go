package upstream_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

// While the upstream is stopped, the downstream answers for its jobs from
// its own store and refuses new operations with 503.1; when the upstream
// is back, the jobs are followed to their end. The same holds when the
// network is cut while the upstream goes on: the job that ended upstream
// meanwhile is seen to its real end once the network is back. The
// downstream pins the certificate of the proxy that stands for the
// network.
func TestUpstreamOutage(t *testing.T) {
	up := startUpstream(t, "")
	p := newProxy(t, up)
	down := startDownstream(t, p.srv.URL, nil, 50*time.Millisecond, func(c *app.Config) { c.HMCFingerprint = p.fp })
	ctx := context.Background()
	g := down.grpc(t)
	rest := down.rest(t)
	alice := rest.logon(t, aliceUser, alicePassword)
	aliceCtx := g.logon(t, ctx, aliceUser, alicePassword)

	act := g.start(t, ctx, "/api/logical-partitions/"+lp2ID+"/operations/activate", lp2, "")
	code, body := rest.do(t, "POST", "/api/partitions/"+part1ID+"/operations/start", "", "X-API-Session", alice)
	var accepted struct {
		JobURI string `json:"job-uri"`
	}
	if code != 202 || json.Unmarshal([]byte(body), &accepted) != nil {
		t.Fatalf("partition start: %d %s", code, body)
	}
	start := strings.TrimPrefix(accepted.JobURI, "/api/jobs/")

	up.node.stop(t)
	requestsBefore := p.count("")
	for range 3 {
		code, body = rest.do(t, "GET", "/api/jobs/"+act, "", "X-API-Target-Name", lp2)
		wantREST(t, "activate while the upstream is stopped", code, body, 200, `{"status":"running"}`)
		code, body = rest.do(t, "GET", accepted.JobURI, "", "X-API-Session", alice)
		wantREST(t, "partition start while the upstream is stopped", code, body, 200, `{"status":"running"}`)
		r, err := g.jobs.GetJob(withTarget(ctx, lp2), &bcpiiv1.GetJobRequest{JobId: act})
		if err != nil || r.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
			t.Fatalf("GetJob while the upstream is stopped: %v %v", r, err)
		}
	}
	// A cancel is taken locally and forwarded once the upstream is back.
	code, body = rest.do(t, "POST", accepted.JobURI+"/operations/cancel", "", "X-API-Session", alice)
	wantREST(t, "cancel while the upstream is stopped", code, body, 202, "")
	code, body = rest.do(t, "GET", accepted.JobURI, "", "X-API-Session", alice)
	wantREST(t, "canceled job while the upstream is stopped", code, body, 200, `{"status":"cancel-pending"}`)

	// New operations are 503.1, raised by the gateway (bcpii-error true).
	_, err := g.ops.Invoke(ctx, &bcpiiv1.InvokeRequest{Method: "POST", Uri: "/api/logical-partitions/" + lp3ID + "/operations/deactivate", TargetName: lp3})
	wantStatus(t, err, codes.Unavailable, 503, 1)
	if d, _ := rpctypes.HMCDetail(err); !d.GetBcpiiError() {
		t.Fatalf("503.1 detail %v: not the gateway's", d)
	}
	code, body = rest.do(t, "POST", "/api/logical-partitions/"+lp3ID+"/operations/deactivate", "", "X-API-Session", alice)
	if code != 503 || !strings.Contains(body, `"http-status":503`) || !strings.Contains(body, `"reason":1`) {
		t.Fatalf("REST operation while the upstream is stopped: %d %s", code, body)
	}
	if p.count("") == requestsBefore {
		t.Fatal("the downstream did not even try the upstream")
	}

	// The upstream is back: it ended both jobs when it stopped, and the
	// downstream follows them to that end.
	up.node = runGateway(t, up.cfg)
	j := g.wait(t, withTarget(ctx, lp2), act)
	want := &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(503), JobReasonCode: proto.Int32(1),
		JobResults: proto.String(`{"message":"The simulated Support Element stopped before the operation ended; the logical partition LP2 was left as it was."}`)}
	if !proto.Equal(j, want) {
		t.Fatalf("activate ended %v, want %v", j, want)
	}
	j = g.wait(t, aliceCtx, start)
	if j.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || j.GetJobStatusCode() != 503 {
		t.Fatalf("partition start ended %v", j)
	}
	p.waitCount(t, "POST /api/jobs/", 1) // the cancel, refused upstream as too late

	// The network is cut while the upstream goes on.
	again := g.start(t, ctx, "/api/logical-partitions/"+lp2ID+"/operations/activate", lp2, "")
	v := up.view(t)
	upJob := v.newest(t)
	p.setCut(true)
	cutAt := p.count("GET /api/jobs/")
	up.clock.Advance(3 * time.Second)
	v.watchUntil(t, upJob, bcpiiv1.JobStatus_JOB_STATUS_COMPLETE)
	p.waitCount(t, "GET /api/jobs/", cutAt+1) // a poll that failed
	code, body = rest.do(t, "GET", "/api/jobs/"+again, "", "X-API-Target-Name", lp2)
	wantREST(t, "job while the network is cut", code, body, 200, `{"status":"running"}`)
	_, err = g.ops.Invoke(ctx, &bcpiiv1.InvokeRequest{Method: "GET", Uri: "/api/logical-partitions/" + lp3ID, TargetName: lp3})
	wantStatus(t, err, codes.Unavailable, 503, 1)
	p.setCut(false)
	j = g.wait(t, withTarget(ctx, lp2), again)
	want = &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(200),
		JobResults: proto.String(`{"message":"Logical partition LP2 activated."}`)}
	if !proto.Equal(j, want) {
		t.Fatalf("activate across the cut ended %v, want %v", j, want)
	}
}

// upstreamJobQueries follows one upstream job through a downstream whose
// clock is fake, with callers waiting on it by WaitJob over gRPC and as
// many polling it by GET over REST, and returns how many job queries
// reached the upstream. The job runs through one poll and ends at the
// second.
func upstreamJobQueries(t *testing.T, callers int) int {
	up := startUpstream(t, "")
	p := newProxy(t, up)
	fa := clocktest.NewFake(time.Now().UTC().Truncate(time.Second))
	const interval = 5 * time.Second
	down := startDownstream(t, p.srv.URL, fa, interval, func(c *app.Config) { c.HMCFingerprint = p.fp })
	g := down.grpc(t)
	rest := down.rest(t)
	ctx := withTarget(context.Background(), lp2)
	id := g.start(t, context.Background(), "/api/logical-partitions/"+lp2ID+"/operations/activate", lp2, "")

	var wg sync.WaitGroup
	waited := make(chan *bcpiiv1.Job, callers)
	for range callers {
		wg.Go(func() {
			wctx, cancel := context.WithTimeout(ctx, waitLimit)
			defer cancel()
			r, err := g.jobs.WaitJob(wctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: nil})
			if err != nil {
				t.Errorf("WaitJob: %v", err)
				waited <- nil
				return
			}
			waited <- r.Job
		})
	}
	// pollRound has every REST caller query the job once, concurrently.
	pollRound := func(want string) {
		var pw sync.WaitGroup
		for range callers {
			pw.Go(func() {
				code, body := rest.do(t, "GET", "/api/jobs/"+id, "", "X-API-Target-Name", lp2)
				if code != 200 || body != want {
					t.Errorf("GET polling caller: %d %s, want %s", code, body, want)
				}
			})
		}
		pw.Wait()
	}
	// Armed: the sweeper, the job's poll, and each waiting caller's
	// timeout.
	armed := 2 + callers
	tick := func() {
		if !fa.WaitForTimers(armed, timeoutChan(t)) {
			t.Fatalf("fewer than %d timers armed", armed)
		}
		fa.Advance(interval * 11 / 10)
	}

	pollRound(`{"status":"running"}`)
	if !fa.WaitForTimers(armed, timeoutChan(t)) {
		t.Fatal("the callers are not waiting")
	}
	pollRound(`{"status":"running"}`)
	if n := p.count("GET /api/jobs/"); n != 0 {
		t.Fatalf("%d upstream job queries before the first interval passed", n)
	}
	tick()
	p.waitCount(t, "GET /api/jobs/", 1)
	pollRound(`{"status":"running"}`)

	v := up.view(t)
	upJob := v.newest(t)
	up.clock.Advance(3 * time.Second)
	v.watchUntil(t, upJob, bcpiiv1.JobStatus_JOB_STATUS_COMPLETE)
	tick()
	want := &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(200),
		JobResults: proto.String(`{"message":"Logical partition LP2 activated."}`)}
	for range callers {
		if j := <-waited; !proto.Equal(j, want) {
			t.Fatalf("a waiting caller saw %v", j)
		}
	}
	wg.Wait()
	pollRound(`{"job-results":{"message":"Logical partition LP2 activated."},"job-status-code":200,"status":"complete"}`)
	p.waitCount(t, "DELETE /api/jobs/", 1)
	return p.count("GET /api/jobs/")
}

// However many callers wait on a job or poll it, the downstream queries
// the upstream once per running job per interval: 50 callers of each kind
// cost the upstream exactly the job queries that one caller does.
func TestFiftyCallersOneUpstreamQuery(t *testing.T) {
	one := upstreamJobQueries(t, 1)
	fifty := upstreamJobQueries(t, 50)
	if one != 2 || fifty != one {
		t.Fatalf("upstream job queries: %d for one caller, %d for 50; want 2 for both", one, fifty)
	}
}
