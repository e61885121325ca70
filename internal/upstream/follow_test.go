package upstream

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// waitEnded waits (on the registry, not the clock) until the job has ended.
func (h *harness) waitEnded(j jobs.Job) jobs.Job {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := h.reg.Watch(ctx, jobs.Caller{Owner: j.Owner}, j.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer w.Close()
	for {
		cur, err := w.Next(ctx)
		if err != nil {
			h.t.Fatalf("job %s did not end: %v", j.ID, err)
		}
		if cur.Status.Ended() {
			return cur
		}
	}
}

// pollsUntilEnd follows one job with callers waiting on it: the upstream
// job runs for 3 polls and ends at the 4th. It returns how many job
// queries reached the upstream.
func pollsUntilEnd(t *testing.T, callers int) int64 {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	j := h.start(partition, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Callers wait as WaitJob and WatchJob do (a registry watcher each)
	// and poll as Query Job Status does (registry reads).
	var wg sync.WaitGroup
	ended := make(chan jobs.Job, callers)
	ready := make(chan struct{}, callers)
	for range callers {
		wg.Go(func() {
			w, err := h.reg.Watch(ctx, jobs.Caller{Owner: partition}, j.ID)
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			ready <- struct{}{}
			for {
				cur, err := w.Next(ctx)
				if errors.Is(err, io.EOF) || err != nil {
					return
				}
				if _, err := h.reg.Get(ctx, jobs.Caller{Owner: partition}, j.ID); err != nil {
					t.Error(err)
				}
				if cur.Status.Ended() {
					ended <- cur
				}
			}
		})
	}
	for range callers {
		<-ready
	}
	for range 10 * callers {
		if _, err := h.reg.Get(ctx, jobs.Caller{Owner: partition}, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.c.Stats().JobQueries; n != 0 {
		t.Fatalf("callers caused %d upstream queries before the first interval passed", n)
	}
	for i := 1; i <= 3; i++ {
		h.tick(1)
		hmc.waitCount("GET /api/jobs/", i)
	}
	hmc.end(jobIDOf(t, j), `{"status":"complete","job-status-code":200,"job-results":{"message":"Activated."}}`)
	h.tick(1)
	seen, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for range callers {
		select {
		case cur := <-ended:
			if cur.StatusCode != 200 || string(cur.Results) != `{"message":"Activated."}` {
				t.Fatalf("a caller saw %+v", cur)
			}
		case <-seen.Done():
			t.Fatal("not every caller saw the job end")
		}
	}
	hmc.waitCount("DELETE /api/jobs/", 1)
	cancel()
	wg.Wait()
	h.stop()
	return h.c.Stats().JobQueries
}

// One upstream query per running job per interval, however many callers
// wait on it or read it.
func TestPollingBound(t *testing.T) {
	one := pollsUntilEnd(t, 1)
	fifty := pollsUntilEnd(t, 50)
	if one != 4 || fifty != one {
		t.Fatalf("upstream job queries: %d with one caller, %d with 50; want 4 and 4", one, fifty)
	}
}

// Every running job is polled on its own: two jobs, two queries per
// interval.
func TestPollingPerJob(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	a := h.start(user, false)
	b := h.start(partition, true)
	for i := 1; i <= 2; i++ {
		h.tick(2)
		hmc.waitCount("GET /api/jobs/", 2*i)
		if !h.clk.WaitForTimers(2, timeoutChan(t)) {
			t.Fatal("polls not armed again")
		}
	}
	hmc.end(jobIDOf(t, a), `{"status":"complete","job-status-code":204}`)
	hmc.end(jobIDOf(t, b), `{"status":"complete","job-status-code":204}`)
	h.tick(2)
	h.waitEnded(a)
	h.waitEnded(b)
	if n := hmc.count("GET /api/jobs/"); n != 6 {
		t.Fatalf("%d queries, want 6", n)
	}
}

// The final status is stored locally with the upstream's codes and its
// job-results without insignificant white space; then the upstream job
// status is deleted.
func TestFinalStatusStored(t *testing.T) {
	cases := []struct {
		name, upstream string
		want           jobs.Job
	}{
		{"complete 200 with results", "{ \"status\" : \"complete\",\n \"job-status-code\" : 200, \"job-reason-code\": 0,\n \"job-results\" : { \"message\" : \"a  b\\n\", \"list\" : [ 1 , 2.50 , {\"x\" : null} ], \"u\":\"\\u00e9<&>\" } , \"extra\": 1 }",
			jobs.Job{Status: jobs.Complete, StatusCode: 200, Results: []byte(`{"message":"a  b\n","list":[1,2.50,{"x":null}],"u":"\u00e9<&>"}`)}},
		{"complete 204", `{"status":"complete","job-status-code":204}`, jobs.Job{Status: jobs.Complete, StatusCode: 204}},
		{"complete with error", `{"job-results":{"message":"Not valid."},"job-reason-code":263,"job-status-code":500,"status":"complete"}`,
			jobs.Job{Status: jobs.Complete, StatusCode: 500, ReasonCode: 263, Results: []byte(`{"message":"Not valid."}`)}},
		{"canceled", `{"status":"canceled","job-status-code":409,"job-reason-code":0,"job-results":null}`,
			jobs.Job{Status: jobs.Canceled, StatusCode: 409}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hmc := newFakeHMC(t)
			h := newHarness(t, hmc, nil)
			j := h.start(user, false)
			hmc.end(jobIDOf(t, j), tc.upstream)
			h.tick(1)
			got := h.waitEnded(j)
			if got.Status != tc.want.Status || got.StatusCode != tc.want.StatusCode || got.ReasonCode != tc.want.ReasonCode ||
				string(got.Results) != string(tc.want.Results) {
				t.Fatalf("stored %s %d.%d %s, want %s %d.%d %s", got.Status, got.StatusCode, got.ReasonCode, got.Results,
					tc.want.Status, tc.want.StatusCode, tc.want.ReasonCode, tc.want.Results)
			}
			hmc.waitCount("DELETE /api/jobs/", 1)
			if _, ok := hmc.jobStatus(jobIDOf(t, j)); ok {
				t.Fatal("the upstream job status was not deleted")
			}
		})
	}
}

// A cancel of the local job is forwarded upstream once, however often the
// job is polled afterwards.
func TestCancelForwardedOnce(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	j := h.start(partition, true)
	ctx := context.Background()
	if _, err := h.reg.Cancel(ctx, jobs.Caller{Owner: partition}, j.ID); err != nil {
		t.Fatal(err)
	}
	hmc.waitCount("POST /api/jobs/", 1)
	for i := 1; i <= 3; i++ {
		h.tick(1)
		hmc.waitCount("GET /api/jobs/", i)
	}
	if st, _ := hmc.jobStatus(jobIDOf(t, j)); st != "cancel-pending" {
		t.Fatalf("upstream job is %q", st)
	}
	hmc.end(jobIDOf(t, j), `{"status":"canceled","job-status-code":409,"job-reason-code":0}`)
	h.tick(1)
	got := h.waitEnded(j)
	if got.Status != jobs.Canceled || got.StatusCode != 409 {
		t.Fatalf("job ended %+v", got)
	}
	if n := hmc.count("POST /api/jobs/"); n != 1 {
		t.Fatalf("%d cancels forwarded, want 1", n)
	}
	// A job whose operation is not cancelable is refused locally (404.4)
	// and nothing is forwarded.
	k := h.start(partition, false)
	_, err := h.reg.Cancel(ctx, jobs.Caller{Owner: partition}, k.ID)
	wantHMCError(t, err, 404, 4, false)
	if n := hmc.count("POST /api/jobs/"); n != 1 {
		t.Fatal("a refused cancel was forwarded")
	}
}

// An upstream that refuses the cancel (404.4) leaves the local job
// cancel-pending until the upstream job ends, as the upstream reports.
func TestCancelRefusedUpstream(t *testing.T) {
	hmc := newFakeHMC(t)
	hmc.cancelAnswer = &answer{404, `{"http-status":404,"reason":4,"message":"Not cancelable."}`}
	h := newHarness(t, hmc, nil)
	j := h.start(user, true)
	if _, err := h.reg.Cancel(context.Background(), jobs.Caller{Owner: user}, j.ID); err != nil {
		t.Fatal(err)
	}
	hmc.waitCount("POST /api/jobs/", 1)
	h.tick(1)
	hmc.waitCount("GET /api/jobs/", 1)
	if cur, _ := h.reg.Get(context.Background(), jobs.Caller{Owner: user}, j.ID); cur.Status != jobs.CancelPending {
		t.Fatalf("local job %s", cur.Status)
	}
	hmc.end(jobIDOf(t, j), `{"status":"complete","job-status-code":204}`)
	h.tick(1)
	if got := h.waitEnded(j); got.Status != jobs.Complete || got.StatusCode != 204 {
		t.Fatalf("job ended %+v", got)
	}
	if n := hmc.count("POST /api/jobs/"); n != 1 {
		t.Fatalf("%d cancels sent, want 1", n)
	}
}

// Failed queries back off exponentially, up to MaxBackoff; the first
// success returns to the poll interval.
func TestBackoff(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, func(c *Config) { c.MaxBackoff = 4 * testInterval })
	h.c.jitter = func() float64 { return 0.5 } // no jitter: exact waits
	j := h.start(user, false)
	hmc.set(func(h *fakeHMC) { h.failJobQueries = 4 })
	// Queries at 5s (fails), then after 10s, 20s, 20s (capped), 20s.
	waits := []time.Duration{5, 10, 20, 20, 20, 5}
	for i, w := range waits {
		w *= time.Second
		if !h.clk.WaitForTimers(1, timeoutChan(t)) {
			t.Fatal("no poll armed")
		}
		h.clk.Advance(w - time.Millisecond)
		if n := hmc.count("GET /api/jobs/"); n != i {
			t.Fatalf("query %d came before %v", i+1, w)
		}
		h.clk.Advance(time.Millisecond)
		hmc.waitCount("GET /api/jobs/", i+1)
	}
	hmc.end(jobIDOf(t, j), `{"status":"complete","job-status-code":204}`)
	h.tick(1)
	h.waitEnded(j)
}

// While the upstream cannot be reached, callers see their jobs from the
// registry and new operations are 503.1; when it returns, the jobs are
// followed to their end.
func TestUpstreamAway(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	h.c.jitter = func() float64 { return 0.5 }
	ctx := context.Background()
	a := h.start(user, false)
	b := h.start(user, true)
	hmc.set(func(h *fakeHMC) { h.down = true })
	hmc.srv.CloseClientConnections()

	_, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "POST", URI: "/api/logical-partitions/l1/operations/load"})
	wantHMCError(t, err, 503, 1, false)
	// Two failed polls of each job (at 5s and 15s).
	for _, w := range []time.Duration{5, 10} {
		if !h.clk.WaitForTimers(2, timeoutChan(t)) {
			t.Fatal("no polls armed")
		}
		h.clk.Advance(w * time.Second)
	}
	if !h.clk.WaitForTimers(2, timeoutChan(t)) {
		t.Fatal("no polls armed")
	}
	for _, j := range []jobs.Job{a, b} {
		cur, err := h.reg.Get(ctx, jobs.Caller{Owner: user}, j.ID)
		if err != nil || cur.Status != jobs.Running {
			t.Fatalf("job while the upstream is away: %+v %v", cur, err)
		}
	}
	// A cancel while away is sent once the upstream is back.
	if _, err := h.reg.Cancel(ctx, jobs.Caller{Owner: user}, b.ID); err != nil {
		t.Fatal(err)
	}
	hmc.waitCount("POST /api/jobs/", 1) // aborted
	hmc.set(func(h *fakeHMC) { h.down = false })
	hmc.dropSessions() // it restarted, as far as sessions go
	hmc.end(jobIDOf(t, a), `{"status":"complete","job-status-code":200,"job-results":{"message":"done"}}`)
	h.clk.Advance(20 * time.Second)
	if got := h.waitEnded(a); got.StatusCode != 200 || string(got.Results) != `{"message":"done"}` {
		t.Fatalf("job a ended %+v", got)
	}
	hmc.waitCount("POST /api/jobs/", 2) // sent again
	hmc.end(jobIDOf(t, b), `{"status":"canceled","job-status-code":409}`)
	h.tick(1)
	if got := h.waitEnded(b); got.Status != jobs.Canceled {
		t.Fatalf("job b ended %+v", got)
	}
	if _, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/cpcs"}); err != nil {
		t.Fatalf("after the upstream returned: %v", err)
	}
}

// A job the upstream no longer knows ends locally, its outcome unknown.
func TestUpstreamForgotJob(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	j := h.start(user, false)
	hmc.set(func(h *fakeHMC) { delete(h.jobs, jobIDOf(t, j)) })
	h.tick(1)
	got := h.waitEnded(j)
	if got.Status != jobs.Complete || got.StatusCode != 503 || got.ReasonCode != 1 {
		t.Fatalf("job ended %+v", got)
	}
}

// Jobs being followed when Run ends are followed again by the next Run,
// found in the store by their upstream job URI; a job of an earlier run
// that names none (the simulated SE's, say) is ended 503.1.
func TestResumeAfterRestart(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	a := h.start(user, false)
	b := h.start(partition, true)
	c := h.start(user, false)
	hmc.end(jobIDOf(t, c), `{"status":"complete","job-status-code":204}`)
	h.tick(3)
	h.waitEnded(c)
	if _, err := h.reg.Cancel(context.Background(), jobs.Caller{Owner: partition}, b.ID); err != nil {
		t.Fatal(err)
	}
	hmc.waitCount("POST /api/jobs/", 1)
	h.stop()
	// The upstream had not seen the cancel after all: the next run must
	// send it for the cancel-pending job.
	hmc.set(func(h *fakeHMC) { h.jobs[jobIDOf(t, b)].status = "running" })
	orphan, err := h.reg.Create(context.Background(), jobs.Spec{Owner: user, Operation: "POST /api/partitions/x/operations/start"})
	if err != nil {
		t.Fatal(err)
	}

	h2 := startHarness(t, hmc, h.reg, h.clk, nil)
	hmc.waitCount("POST /api/jobs/", 2)
	hmc.end(jobIDOf(t, a), `{"status":"complete","job-status-code":204}`)
	hmc.end(jobIDOf(t, b), `{"status":"canceled","job-status-code":409}`)
	h2.tick(2)
	if got := h2.waitEnded(a); got.StatusCode != 204 {
		t.Fatalf("a ended %+v", got)
	}
	if got := h2.waitEnded(b); got.Status != jobs.Canceled {
		t.Fatalf("b ended %+v", got)
	}
	if got := h2.waitEnded(orphan); got.Status != jobs.Complete || got.StatusCode != 503 || got.ReasonCode != 1 {
		t.Fatalf("the job naming no upstream job ended %+v", got)
	}
	hmc.waitCount("DELETE /api/jobs/", 3)
	h2.stop()
	left, err := h.reg.Recover(context.Background(), func(j jobs.Job) bool {
		t.Errorf("job %s is not ended after every job ended", j.ID)
		return true
	}, jobs.Result{Status: jobs.Complete, StatusCode: 503, ReasonCode: 1})
	if err != nil || left != 0 {
		t.Fatalf("Recover after every job ended: %d %v", left, err)
	}
}
