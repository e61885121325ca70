package app_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// TestCompletionStreamIsolation runs the completion stream isolation
// check on one gateway.
func TestCompletionStreamIsolation(t *testing.T) {
	ca := newCA(t, "partitions CA")
	const user, password = "operator", "Completions-Passw0rd"
	g := startGateway(t, nil, func(c *app.Config) {
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
		c.UsersFile = writeUsers(t, map[string]string{user: password})
	})
	completionIsolation(t, isolationRun{start: g, ask: g, advance: g.clock.Advance, ca: ca, user: user, password: password})
}

// sseCompletions follows GET /api/job-completions at g as who, with hdr,
// and sends the job-uri of each completion event; the channel closes when
// the stream ends, at the latest after waitLimit.
func sseCompletions(t *testing.T, g *gateway, who *actor, hdr http.Header) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url("/api/job-completions"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	// A client without the overall timeout: the stream outlives it; the
	// context bounds it.
	resp, err := (&http.Client{Transport: who.rest.Transport}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("%s: job-completions: %v", who.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("%s: job-completions: %d", who.name, resp.StatusCode)
	}
	out := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out <- data
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return out
}

// completionIsolation has partitions A and B and API user U each follow
// WatchJobCompletions and the SSE job-completions stream at r.ask while
// all three start jobs at r.start and end them in two rounds. Each stream
// carries the caller's own completions, in order, and none of the others':
// the second round ends after every first-round job, so a stream that
// reaches its own second-round job has been offered all of the first
// round.
func completionIsolation(t *testing.T, r isolationRun) {
	oa, ob, ou := newActors(t, r.start, r.ca, r.user, r.password)
	a, b, u := oa, ob, ou
	if r.ask != r.start {
		a, b, u = newActors(t, r.ask, r.ca, r.user, r.password)
	}
	objs := r.start.discover(t, oa.rest, nil)

	type follower struct {
		who, owner *actor // the caller at r.ask, the same principal at r.start
		stream     bcpiiv1.JobService_WatchJobCompletionsClient
		sse        <-chan string
		jobs       []job // the actor's own, in the order they end
	}
	var followers []*follower
	for _, p := range [][2]*actor{{a, oa}, {b, ob}, {u, ou}} {
		who := p[0]
		ctx, cancel := context.WithCancel(who.ctx(t, ""))
		t.Cleanup(cancel)
		stream, err := who.jobs.WatchJobCompletions(ctx, &bcpiiv1.WatchJobCompletionsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		// The server sends a header once it follows the caller's jobs.
		if md, err := stream.Header(); err != nil || len(md.Get(rpctypes.StreamStartedKey)) == 0 {
			t.Fatalf("%s: WatchJobCompletions did not start: %v %v", who.name, md, err)
		}
		sse := sseCompletions(t, r.ask, who, who.header(""))
		followers = append(followers, &follower{who: who, owner: p[1], stream: stream, sse: sse})
	}

	type start struct{ object, op string }
	round := func(starts map[*actor]start) {
		t.Helper()
		for _, f := range followers {
			st := starts[f.who]
			obj := objs[st.object]
			target, body := "", ""
			if f.who.partition {
				target = obj.target
			}
			if st.object == "LP1" {
				body = `{"force":true}` // LP1 is operating
			}
			o := f.owner
			resp, err := o.ops.Invoke(o.ctx(t, ""), &bcpiiv1.InvokeRequest{Method: "POST", Uri: obj.uri + "/operations/" + st.op, TargetName: target, Body: body})
			if err != nil || resp.GetHttpStatus() != 202 {
				t.Fatalf("%s: %s %s: %v, %v", o.name, st.op, st.object, resp, err)
			}
			f.jobs = append(f.jobs, job{id: jobIDFromURI(t, resp.GetJobUri()), owner: o, target: target})
		}
		r.advance(3 * time.Second)
		for _, f := range followers {
			j := f.jobs[len(f.jobs)-1]
			w, err := j.owner.jobs.WaitJob(j.owner.ctx(t, j.target), &bcpiiv1.WaitJobRequest{JobId: j.id})
			if err != nil || w.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
				t.Fatalf("%v: WaitJob = %v, %v", j, w, err)
			}
		}
	}
	round(map[*actor]start{a: {"LP1", "activate"}, b: {"LP2", "activate"}, u: {"PART1", "start"}})
	round(map[*actor]start{a: {"LP1", "load"}, b: {"LP2", "deactivate"}, u: {"PART1", "stop"}})

	for _, f := range followers {
		for _, want := range f.jobs {
			ev, err := f.stream.Recv()
			if err != nil {
				t.Fatalf("%s: WatchJobCompletions: %v", f.who.name, err)
			}
			if ev.GetJobId() != want.id {
				t.Fatalf("%s: completion of job %s, want its own %s next", f.who.name, ev.GetJobId(), want.id)
			}
			if ev.GetJobUri() != "/api/jobs/"+want.id || ev.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
				t.Errorf("%s: completion %v", f.who.name, ev)
			}
			data, ok := <-f.sse
			if wantData := `{"job-uri":"/api/jobs/` + want.id + `"}`; !ok || data != wantData {
				t.Fatalf("%s: SSE completion %q (open %v), want its own %s next", f.who.name, data, ok, wantData)
			}
		}
	}
}
