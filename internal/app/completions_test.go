package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// TestCompletionStreamIsolation has partitions A and B and API user U each
// follow WatchJobCompletions while all three start and end jobs in two
// rounds. Each stream carries the caller's own completions, in order, and
// none of the others': the second round ends after every first-round job,
// so a stream that reaches its own second-round job has been offered all
// of the first round.
func TestCompletionStreamIsolation(t *testing.T) {
	ca := newCA(t, "partitions CA")
	const user, password = "operator", "Completions-Passw0rd"
	g := startGateway(t, nil, func(c *app.Config) {
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
		c.UsersFile = writeUsers(t, map[string]string{user: password})
	})
	a, b, u := newActors(t, g, ca, user, password)
	objs := g.discover(t, a.rest, nil)

	type follower struct {
		who    *actor
		stream bcpiiv1.JobService_WatchJobCompletionsClient
		jobs   []job // the actor's own, in the order they end
	}
	var followers []*follower
	for _, who := range []*actor{a, b, u} {
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
		followers = append(followers, &follower{who: who, stream: stream})
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
			resp, err := f.who.ops.Invoke(f.who.ctx(t, ""), &bcpiiv1.InvokeRequest{Method: "POST", Uri: obj.uri + "/operations/" + st.op, TargetName: target, Body: body})
			if err != nil || resp.GetHttpStatus() != 202 {
				t.Fatalf("%s: %s %s: %v, %v", f.who.name, st.op, st.object, resp, err)
			}
			f.jobs = append(f.jobs, job{id: jobIDFromURI(t, resp.GetJobUri()), owner: f.who, target: target})
		}
		g.clock.Advance(3 * time.Second)
		for _, f := range followers {
			j := f.jobs[len(f.jobs)-1]
			r, err := f.who.jobs.WaitJob(f.who.ctx(t, j.target), &bcpiiv1.WaitJobRequest{JobId: j.id})
			if err != nil || r.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
				t.Fatalf("%v: WaitJob = %v, %v", j, r, err)
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
		}
	}
}
