package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// actor is one principal with its own gRPC and REST clients: a partition
// by its client certificate, or the API user by a session on each
// interface.
type actor struct {
	name      string // request-authenticated-as
	partition bool
	conn      *grpc.ClientConn
	jobs      bcpiiv1.JobServiceClient
	ops       bcpiiv1.OperationServiceClient
	rest      *http.Client
	// grpcSession and restSession are the user's sessions, one logged on
	// over each interface; empty for partitions.
	grpcSession, restSession string
}

// ctx is a call context with the actor's session and, if target is not
// empty, X-API-Target-Name.
func (a *actor) ctx(t *testing.T, target string) context.Context {
	t.Helper()
	session := ""
	if a.grpcSession != "" {
		session = rpctypes.SessionKey
	}
	targetKey := ""
	if target != "" {
		targetKey = rpctypes.TargetKey
	}
	return withMD(t, session, a.grpcSession, targetKey, target)
}

// header is a REST header with the actor's session and, if target is not
// empty, X-API-Target-Name.
func (a *actor) header(target string) http.Header {
	h := http.Header{}
	if a.restSession != "" {
		h.Set("X-API-Session", a.restSession)
	}
	if target != "" {
		h.Set("X-API-Target-Name", target)
	}
	return h
}

// job is a job an actor started.
type job struct {
	id     string
	owner  *actor
	target string // X-API-Target-Name of the request that started it; "" for the user's
	via    string
}

func (j job) String() string { return j.owner.name + "'s " + j.via + " job" }

// jobCall is one job operation over gRPC; it returns the call's error.
type jobCall struct {
	name string
	call func(ctx context.Context, c bcpiiv1.JobServiceClient, id string) error
}

var grpcJobCalls = []jobCall{
	{"GetJob", func(ctx context.Context, c bcpiiv1.JobServiceClient, id string) error {
		_, err := c.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: id})
		return err
	}},
	{"CancelJob", func(ctx context.Context, c bcpiiv1.JobServiceClient, id string) error {
		_, err := c.CancelJob(ctx, &bcpiiv1.CancelJobRequest{JobId: id})
		return err
	}},
	{"DeleteJob", func(ctx context.Context, c bcpiiv1.JobServiceClient, id string) error {
		_, err := c.DeleteJob(ctx, &bcpiiv1.DeleteJobRequest{JobId: id})
		return err
	}},
	{"WaitJob", func(ctx context.Context, c bcpiiv1.JobServiceClient, id string) error {
		// Another's job must fail at once; a wait that began would
		// block on the fake clock until waitLimit.
		_, err := c.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: durationpb.New(time.Millisecond)})
		return err
	}},
	{"WatchJob", func(ctx context.Context, c bcpiiv1.JobServiceClient, id string) error {
		_, err := watchFirst(ctx, c, id)
		return err
	}},
}

// restJobCalls are the job operations over REST: method, path and Accept
// header; the last is the job's event stream (SSE).
var restJobCalls = []struct{ method, suffix, accept string }{
	{http.MethodGet, "", ""},
	{http.MethodPost, "/operations/cancel", ""},
	{http.MethodDelete, "", ""},
	{http.MethodGet, "/events", "text/event-stream"},
}

// TestPartitionIsolation has partitions A and B (each by its own client
// certificate) and API user U (by a session on each interface) start jobs
// over gRPC and REST, and runs the isolation table on one gateway.
func TestPartitionIsolation(t *testing.T) {
	ca := newCA(t, "partitions CA")
	const user, password = "operator", "Isolation-Passw0rd"
	g := startGateway(t, nil, func(c *app.Config) {
		c.Store = app.StoreBolt
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
		c.UsersFile = writeUsers(t, map[string]string{user: password})
	})
	isolationTable(t, isolationRun{start: g, ask: g, advance: g.clock.Advance, ca: ca, user: user, password: password})
}

// isolationRun is where the isolation table runs: the owners start their
// jobs at start, every caller asks ask (the same gateway, or another
// replica of a cluster), and advance moves the clock of the simulated SE
// that runs the jobs. Both gateways trust ca for partition certificates
// and know user.
type isolationRun struct {
	start, ask     *gateway
	advance        func(time.Duration)
	ca             *testCA
	user, password string
}

// isolationTable: partitions A and B and user U start jobs at r.start.
// Then, at r.ask, every job operation of each principal on every other
// principal's job, over both interfaces, with and without the job's own
// target name, answers 404.1 exactly as for a job that does not exist;
// nothing changes the victims' jobs; ListJobs shows only the caller's own;
// and each principal's own operations work.
func isolationTable(t *testing.T, r isolationRun) {
	g := r.ask
	oa, ob, ou := newActors(t, r.start, r.ca, r.user, r.password)
	a, b, u := oa, ob, ou
	if r.ask != r.start {
		a, b, u = newActors(t, r.ask, r.ca, r.user, r.password)
	}
	actors := []*actor{a, b, u}
	caller := map[string]*actor{a.name: a, b.name: b, u.name: u}

	objs := r.start.discover(t, oa.rest, nil)
	opURI := func(name, op string) string { return objs[name].uri + "/operations/" + op }

	// Phase 1, over gRPC: jobs that will have ended.
	startGRPC := func(who *actor, uri, target, body string) job {
		t.Helper()
		resp, err := who.ops.Invoke(who.ctx(t, ""), &bcpiiv1.InvokeRequest{Method: "POST", Uri: uri, TargetName: target, Body: body})
		if err != nil {
			t.Fatalf("%s: Invoke POST %s: %v", who.name, uri, err)
		}
		if resp.GetHttpStatus() != http.StatusAccepted {
			t.Fatalf("%s: Invoke POST %s: %v", who.name, uri, resp)
		}
		return job{id: jobIDFromURI(t, resp.GetJobUri()), owner: who, target: target, via: "gRPC"}
	}
	a1 := startGRPC(oa, opURI("LP1", "activate"), lp1, `{"force":true}`)
	b1 := startGRPC(ob, opURI("LP2", "activate"), lp2, "")
	u1 := startGRPC(ou, opURI("PART1", "start"), "", "")
	r.advance(3 * time.Second)
	for _, j := range []job{a1, b1, u1} {
		// The owner's own WaitJob, naming the job's target.
		w, err := j.owner.jobs.WaitJob(j.owner.ctx(t, j.target), &bcpiiv1.WaitJobRequest{JobId: j.id})
		if err != nil {
			t.Fatalf("%v: WaitJob: %v", j, err)
		}
		if w.GetTimedOut() || w.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || w.GetJob().GetJobStatusCode()/100 != 2 {
			t.Fatalf("%v: WaitJob = %v, want a successful completion", j, w)
		}
	}

	// Phase 2, over REST: jobs that keep running. A's and U's can be
	// canceled (partition stop), B's cannot (LPAR deactivate).
	startREST := func(who *actor, uri, target string) job {
		t.Helper()
		ans := r.start.rest(t, who.rest, http.MethodPost, uri, who.header(target), "")
		return job{id: jobIDFromURI(t, jobURIFromBody(t, ans)), owner: who, target: target, via: "REST"}
	}
	a2 := startREST(oa, opURI("PART2", "stop"), part2)
	b2 := startREST(ob, opURI("LP2", "deactivate"), lp2)
	u2 := startREST(ou, opURI("PART1", "stop"), "")
	all := []job{a1, a2, b1, b2, u1, u2}

	ownJobs := func(who *actor, js []job) []string {
		var ids []string
		for _, j := range js {
			if j.owner.name == who.name {
				ids = append(ids, j.id)
			}
		}
		slices.Sort(ids)
		return ids
	}
	checkLists := func(t *testing.T, js []job) {
		t.Helper()
		for _, who := range actors {
			got := listJobs(t, who.ctx(t, ""), who.jobs)
			slices.Sort(got)
			if want := ownJobs(who, js); !slices.Equal(got, want) {
				t.Errorf("%s: ListJobs = %v, want its own %v", who.name, got, want)
			}
		}
		// Either of the user's sessions lists the user's jobs.
		uREST := &actor{name: u.name, jobs: u.jobs, grpcSession: u.restSession}
		got := listJobs(t, uREST.ctx(t, ""), uREST.jobs)
		slices.Sort(got)
		if want := ownJobs(u, js); !slices.Equal(got, want) {
			t.Errorf("%s (REST session over gRPC): ListJobs = %v, want %v", u.name, got, want)
		}
	}
	checkLists(t, all)

	// Every operation of every principal on every other principal's job.
	for _, attacker := range actors {
		for _, victim := range all {
			if victim.owner.name == attacker.name {
				continue
			}
			// The victim job's own target name opens nothing; neither
			// does the lack of one.
			targets := []string{"", victim.target}
			if victim.target == "" {
				targets[1] = part1 // what the user's job acts on
			}
			for _, target := range targets {
				name := fmt.Sprintf("%s on %v/target=%q", attacker.name, victim, target)
				t.Run(name+"/gRPC", func(t *testing.T) {
					for _, c := range grpcJobCalls {
						errOther := c.call(attacker.ctx(t, target), attacker.jobs, victim.id)
						d := wantGRPCError(t, errOther, codes.NotFound, 404, 1)
						if d.GetRequestAuthenticatedAs() != attacker.name || (d.BcpiiError != nil) != attacker.partition {
							t.Errorf("%s: detail %v", c.name, d)
						}
						// The same status as for a job that does not exist.
						errMissing := c.call(attacker.ctx(t, target), attacker.jobs, jobs.NewID())
						if !proto.Equal(status.Convert(errOther).Proto(), status.Convert(errMissing).Proto()) {
							t.Errorf("%s: another's job answers %v, a missing job %v", c.name, errOther, errMissing)
						}
					}
				})
				t.Run(name+"/REST", func(t *testing.T) {
					for _, c := range restJobCalls {
						hdr := attacker.header(target)
						if c.accept != "" {
							hdr.Set("Accept", c.accept)
						}
						other := g.rest(t, attacker.rest, c.method, "/api/jobs/"+victim.id+c.suffix, hdr, "")
						e := wantRESTError(t, other, 404, 1)
						if attacker.partition {
							wantBCPiiError(t, e, attacker.name)
						} else if e.BCPiiError != nil || e.AuthenticatedAs == nil || *e.AuthenticatedAs != attacker.name {
							t.Errorf("%s %s: error body %s", c.method, c.suffix, other.body)
						}
						missingID := jobs.NewID()
						missing := g.rest(t, attacker.rest, c.method, "/api/jobs/"+missingID+c.suffix, hdr, "")
						sameAnswer(t, c.method+" "+c.suffix, other, victim.id, missing, missingID)
					}
				})
			}
		}
	}

	// Nothing any of that did changed a job: the running ones run and the
	// ended ones are still there, each seen by its owner with its target.
	for _, j := range all {
		got, err := j.owner.jobs.GetJob(j.owner.ctx(t, j.target), &bcpiiv1.GetJobRequest{JobId: j.id})
		if err != nil {
			t.Fatalf("%v: GetJob by its owner: %v", j, err)
		}
		want := bcpiiv1.JobStatus_JOB_STATUS_COMPLETE
		if j.via == "REST" {
			want = bcpiiv1.JobStatus_JOB_STATUS_RUNNING
		}
		if got.GetJob().GetStatus() != want {
			t.Errorf("%v: status %v, want %v", j, got.GetJob().GetStatus(), want)
		}
	}
	checkLists(t, all)

	// Each principal's own operations work.
	t.Run("own", func(t *testing.T) {
		// Query over REST, naming the target in lower case.
		ans := g.rest(t, a.rest, http.MethodGet, "/api/jobs/"+a2.id, a.header(strings.ToLower(part2)), "")
		if ans.status != 200 || string(ans.body) != `{"status":"running"}` {
			t.Errorf("A: GET own running job: %d %s", ans.status, ans.body)
		}
		ans = g.rest(t, u.rest, http.MethodGet, "/api/jobs/"+u1.id, u.header(""), "")
		if ans.status != 200 || string(ans.body) != `{"job-status-code":204,"status":"complete"}` {
			t.Errorf("U: GET own job: %d %s", ans.status, ans.body)
		}

		// U's event stream of its ended job, where the caller asks: the
		// end, then the stream ends.
		ans = g.rest(t, u.rest, http.MethodGet, "/api/jobs/"+u1.id+"/events", http.Header{"X-Api-Session": {u.restSession}, "Accept": {"text/event-stream"}}, "")
		if ans.status != 200 || !strings.HasPrefix(ans.header.Get("Content-Type"), "text/event-stream") ||
			!strings.Contains(string(ans.body), `data: {"job-uri":"/api/jobs/`+u1.id+`"}`) {
			t.Errorf("U: events of own job: %d %v %s", ans.status, ans.header, ans.body)
		}

		// A watches its running job and cancels it over REST.
		wctx, stopWatch := context.WithCancel(a.ctx(t, part2))
		defer stopWatch()
		stream, err := a.jobs.WatchJob(wctx, &bcpiiv1.WatchJobRequest{JobId: a2.id})
		if err != nil {
			t.Fatal(err)
		}
		first, err := stream.Recv()
		if err != nil || first.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
			t.Fatalf("A: WatchJob first = %v, %v", first, err)
		}
		ans = g.rest(t, a.rest, http.MethodPost, "/api/jobs/"+a2.id+"/operations/cancel", a.header(part2), "")
		if ans.status != http.StatusAccepted || len(ans.body) != 0 {
			t.Fatalf("A: cancel own job: %d %s", ans.status, ans.body)
		}
		var last *bcpiiv1.WatchJobResponse
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("A: WatchJob: %v", err)
			}
			last = m
		}
		if last.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_CANCELED {
			t.Errorf("A: WatchJob ended with %v, want canceled", last)
		}

		// U cancels over gRPC, with the other session, the job it
		// started over REST, and waits for it.
		if _, err := u.jobs.CancelJob(u.ctx(t, ""), &bcpiiv1.CancelJobRequest{JobId: u2.id}); err != nil {
			t.Fatalf("U: CancelJob own job: %v", err)
		}
		w, err := u.jobs.WaitJob(u.ctx(t, ""), &bcpiiv1.WaitJobRequest{JobId: u2.id})
		if err != nil || w.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_CANCELED {
			t.Errorf("U: WaitJob own canceled job = %v, %v", w, err)
		}

		// B's LPAR job cannot be canceled: its own job, so 404.4, not 404.1.
		_, err = b.jobs.CancelJob(b.ctx(t, lp2), &bcpiiv1.CancelJobRequest{JobId: b2.id})
		wantGRPCError(t, err, codes.FailedPrecondition, 404, 4)
		r.advance(3 * time.Second)
		w, err = b.jobs.WaitJob(b.ctx(t, lp2), &bcpiiv1.WaitJobRequest{JobId: b2.id})
		if err != nil || w.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
			t.Errorf("B: WaitJob own job = %v, %v", w, err)
		}

		// Each deletes its ended phase-1 job, over one interface or the
		// other, and it is gone.
		if _, err := a.jobs.DeleteJob(a.ctx(t, lp1), &bcpiiv1.DeleteJobRequest{JobId: a1.id}); err != nil {
			t.Errorf("A: DeleteJob own job: %v", err)
		}
		for _, j := range []job{b1, u1} {
			who := caller[j.owner.name]
			ans := g.rest(t, who.rest, http.MethodDelete, "/api/jobs/"+j.id, who.header(j.target), "")
			if ans.status != http.StatusNoContent || len(ans.body) != 0 {
				t.Errorf("%v: DELETE by its owner: %d %s", j, ans.status, ans.body)
			}
		}
		for _, j := range []job{a1, b1, u1} {
			who := caller[j.owner.name]
			_, err := who.jobs.GetJob(who.ctx(t, j.target), &bcpiiv1.GetJobRequest{JobId: j.id})
			wantGRPCError(t, err, codes.NotFound, 404, 1)
			// Gone at the gateway that started it too: at once on one
			// gateway; at another replica, which may hold the ended job
			// in its cache, once its etcd watch tells of the delete
			// (milliseconds; 5 s allowed).
			within(5*time.Second, func() bool {
				_, err = j.owner.jobs.GetJob(j.owner.ctx(t, j.target), &bcpiiv1.GetJobRequest{JobId: j.id})
				return r.ask == r.start || status.Code(err) == codes.NotFound
			})
			wantGRPCError(t, err, codes.NotFound, 404, 1)
		}
		checkLists(t, []job{a2, b2, u2})
	})
}

// newActors makes partitions A (LP1) and B (LP2), each by a certificate
// from ca, and the API user U, logged on once over gRPC and once over REST
// from connections without a certificate.
func newActors(t *testing.T, g *gateway, ca *testCA, user, password string) (a, b, u *actor) {
	t.Helper()
	newPartition := func(target string) *actor {
		cert := ca.partitionCert(t, target)
		conn := g.grpcConn(t, cert)
		return &actor{name: target, partition: true, conn: conn,
			jobs: bcpiiv1.NewJobServiceClient(conn), ops: bcpiiv1.NewOperationServiceClient(conn), rest: g.restClient(t, cert)}
	}
	a, b = newPartition(lp1), newPartition(lp2)

	uconn := g.grpcConn(t)
	u = &actor{name: user, conn: uconn, jobs: bcpiiv1.NewJobServiceClient(uconn), ops: bcpiiv1.NewOperationServiceClient(uconn), rest: g.restClient(t)}
	logon, err := bcpiiv1.NewSessionServiceClient(uconn).Logon(withMD(t), &bcpiiv1.LogonRequest{Userid: user, Password: password})
	if err != nil {
		t.Fatalf("Logon over gRPC: %v", err)
	}
	u.grpcSession = logon.GetApiSession()
	la := g.rest(t, u.rest, http.MethodPost, "/api/sessions", nil, `{"userid":"`+user+`","password":"`+password+`"}`)
	if la.status != http.StatusOK {
		t.Fatalf("POST /api/sessions: %d %s", la.status, la.body)
	}
	u.restSession = jsonField(t, la.body, "api-session")
	if u.grpcSession == "" || u.restSession == "" || u.grpcSession == u.restSession {
		t.Fatalf("sessions %q and %q", u.grpcSession, u.restSession)
	}
	return a, b, u
}

// sameAnswer checks that the answer for another's job (id) is the answer
// for a job that does not exist (missingID), byte for byte, but for the
// id in request-uri.
func sameAnswer(t *testing.T, what string, other answer, id string, missing answer, missingID string) {
	t.Helper()
	if other.status != missing.status {
		t.Errorf("%s: status %d for another's job, %d for a missing one", what, other.status, missing.status)
	}
	if strings.Count(string(other.body), id) != 1 || strings.Count(string(missing.body), missingID) != 1 {
		t.Errorf("%s: the job id is not once in each body:\n%s\n%s", what, other.body, missing.body)
	}
	ob := strings.ReplaceAll(string(other.body), id, "{job-id}")
	mb := strings.ReplaceAll(string(missing.body), missingID, "{job-id}")
	if ob != mb {
		t.Errorf("%s: another's job and a missing one answer differently:\n%s\n%s", what, ob, mb)
	}
	oh, mh := other.header.Clone(), missing.header.Clone()
	// The date and the request id differ from answer to answer, whoever's
	// job it is.
	for _, h := range []string{"Date", "X-Request-Id"} {
		oh.Del(h)
		mh.Del(h)
	}
	if fmt.Sprint(oh) != fmt.Sprint(mh) {
		t.Errorf("%s: headers differ:\n%v\n%v", what, oh, mh)
	}
}
