package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

type sseEvent struct {
	id, name, data string
	comment        bool
}

// sseStream reads events from a live response.
type sseStream struct {
	resp  *http.Response
	r     *bufio.Reader
	ch    chan sseEvent
	err   chan error
	clock *clocktest.Fake // the gateway's
}

// streamLimit bounds an event stream's request, its reads included: a
// stream that stops fails the test rather than hanging it.
const streamLimit = 30 * time.Second

// eventLimit is how long a test waits for an event.
const eventLimit = 10 * time.Second

func openSSE(t *testing.T, s *stack, path, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamLimit)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.https.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream") // as EventSource sends it
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	st := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), ch: make(chan sseEvent, 100), err: make(chan error, 1), clock: s.clock}
	if resp.StatusCode == http.StatusOK {
		go st.read()
	}
	t.Cleanup(func() { resp.Body.Close() })
	return st
}

func (st *sseStream) read() {
	var ev sseEvent
	for {
		line, err := st.r.ReadString('\n')
		if err != nil {
			st.err <- err
			close(st.ch)
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				st.ch <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			st.ch <- sseEvent{comment: true, data: line}
		default:
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "id":
				ev.id = v
			case "event":
				ev.name = v
			case "data":
				ev.data = v
			}
		}
	}
}

func (st *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventLimit)
	defer cancel()
	for {
		select {
		case ev, ok := <-st.ch:
			if !ok {
				t.Fatalf("stream ended: %v", <-st.err)
			}
			if ev.comment {
				continue
			}
			return ev
		case <-ctx.Done():
			t.Fatalf("no event within %v", eventLimit)
		}
	}
}

// ended checks that the stream ends after its last event. A finished
// stream's connection lingers a moment on the gateway's clock, which ended
// moves on once the linger has started.
func (st *sseStream) ended(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventLimit)
	defer cancel()
	go func() {
		if st.clock.WaitForTimerWithin(gateway.LingerClose, ctx.Done()) {
			st.clock.Advance(gateway.LingerClose)
		}
	}()
	select {
	case ev, ok := <-st.ch:
		if ok {
			t.Fatalf("event %+v after the end", ev)
		}
		if err := <-st.err; !errors.Is(err, io.EOF) {
			t.Fatalf("stream ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("stream did not end within %v", eventLimit)
	}
}

func TestJobEventsDeliverEveryTransitionThenClose(t *testing.T) {
	forEachStack(t, func(t *testing.T, s *stack) {
		ctx := context.Background()
		id := s.job(t, ownerA, "running")
		st := openSSE(t, s, "/api/jobs/"+id+"/events", "")
		if st.resp.StatusCode != 200 || st.resp.Header.Get("Content-Type") != "text/event-stream;charset=UTF-8" ||
			st.resp.Header.Get("Cache-Control") != "no-cache" || st.resp.Header.Get("Server") != "bcpii-gateway" {
			t.Fatalf("answer %d %v", st.resp.StatusCode, st.resp.Header)
		}
		want := func(name, data string) sseEvent {
			t.Helper()
			ev := st.next(t)
			if ev.name != name || ev.data != data || ev.id == "" {
				t.Fatalf("event %+v, want %s %s", ev, name, data)
			}
			return ev
		}
		e1 := want("status", `{"status":"running"}`)
		if _, err := s.reg.Cancel(ctx, jobs.Caller{Owner: ownerA}, id); err != nil {
			t.Fatal(err)
		}
		e2 := want("status", `{"status":"cancel-pending"}`)
		if _, err := s.reg.Finish(ctx, id, jobs.Result{Status: jobs.Canceled, StatusCode: 409}); err != nil {
			t.Fatal(err)
		}
		e3 := want("status", `{"job-reason-code":0,"job-status-code":409,"status":"canceled"}`)
		e4 := want("job-completion", `{"job-uri":"/api/jobs/`+id+`"}`)
		st.ended(t)
		if ids := []string{e1.id, e2.id, e3.id, e4.id}; len(map[string]bool{ids[0]: true, ids[1]: true, ids[2]: true, ids[3]: true}) != 4 {
			t.Errorf("event ids not distinct: %v", ids)
		}
	})
}

func TestJobEventsResumeWithLastEventID(t *testing.T) {
	forEachStack(t, func(t *testing.T, s *stack) {
		ctx := context.Background()
		id := s.job(t, ownerA, "running")
		st := openSSE(t, s, "/api/jobs/"+id+"/events", "")
		first := st.next(t)
		st.resp.Body.Close() // the client drops the connection

		if _, err := s.reg.Cancel(ctx, jobs.Caller{Owner: ownerA}, id); err != nil {
			t.Fatal(err)
		}
		st2 := openSSE(t, s, "/api/jobs/"+id+"/events", first.id)
		ev := st2.next(t)
		if ev.data != `{"status":"cancel-pending"}` {
			t.Fatalf("resumed with %+v, want cancel-pending only", ev)
		}
		if _, err := s.reg.Finish(ctx, id, jobs.Result{Status: jobs.Canceled, StatusCode: 409}); err != nil {
			t.Fatal(err)
		}
		final := st2.next(t)
		st2.next(t) // job-completion
		st2.ended(t)

		// Resuming after the final status gets only the completion event;
		// after the completion, 204: nothing more will come.
		st3 := openSSE(t, s, "/api/jobs/"+id+"/events", final.id)
		if ev := st3.next(t); ev.name != "job-completion" {
			t.Fatalf("after the final status: %+v", ev)
		}
		st3.ended(t)
		st4 := openSSE(t, s, "/api/jobs/"+id+"/events", final.id+".done")
		if st4.resp.StatusCode != http.StatusNoContent {
			t.Fatalf("after the completion: %d", st4.resp.StatusCode)
		}
	})
}

// A Last-Event-ID that says the client has the whole stream answers 204
// only for the caller's own job: another partition's job and one that never
// existed answer 404.1, like every other request for them.
func TestJobEventsDoneChecksOwnership(t *testing.T) {
	s := newStack(t)
	theirs := s.job(t, ownerB, "complete-200")
	mine := s.job(t, ownerA, "complete-200")
	for _, tc := range []struct {
		id   string
		want int
	}{{theirs, 404}, {jobs.NewID(), 404}, {mine, http.StatusNoContent}} {
		st := openSSE(t, s, "/api/jobs/"+tc.id+"/events", "17.done")
		if st.resp.StatusCode != tc.want {
			t.Errorf("job %s: answer %d, want %d", tc.id, st.resp.StatusCode, tc.want)
			continue
		}
		if tc.want == 404 {
			body, err := io.ReadAll(st.resp.Body)
			if err != nil || !strings.Contains(string(body), `"reason":1,`) {
				t.Errorf("job %s: body %s %v", tc.id, body, err)
			}
		}
	}
}

func TestJobEventsOfAnotherPartition(t *testing.T) {
	s := newStack(t)
	id := s.job(t, ownerB, "running")
	st := openSSE(t, s, "/api/jobs/"+id+"/events", "")
	// The status first: a stream's body would not end. Its read is bounded
	// by the request's deadline all the same.
	if st.resp.StatusCode != 404 || st.resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Fatalf("answer %d %q", st.resp.StatusCode, st.resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(st.resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	var e struct {
		HTTPStatus int `json:"http-status"`
		Reason     int `json:"reason"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.HTTPStatus != 404 || e.Reason != 1 {
		t.Fatalf("body %s", body)
	}
}

func TestCompletionEventsResumeWithoutLossOrDuplicates(t *testing.T) {
	forEachStack(t, func(t *testing.T, s *stack) {
		ctx := context.Background()
		var ids []string
		for range 5 {
			ids = append(ids, s.job(t, ownerA, "running"))
		}
		theirs := s.job(t, ownerB, "running")
		st := openSSE(t, s, "/api/job-completions", "")
		if st.resp.StatusCode != 200 {
			t.Fatalf("answer %d", st.resp.StatusCode)
		}
		finishJob := func(id string) {
			t.Helper()
			if _, err := s.reg.Finish(ctx, id, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
				t.Fatal(err)
			}
		}
		finishJob(theirs)
		finishJob(ids[0])
		ev := st.next(t)
		if ev.name != "job-completion" || ev.data != `{"job-uri":"/api/jobs/`+ids[0]+`"}` {
			t.Fatalf("event %+v", ev)
		}
		st.resp.Body.Close()
		finishJob(ids[1])
		finishJob(ids[2])
		st2 := openSSE(t, s, "/api/job-completions", ev.id)
		finishJob(ids[3])
		for _, want := range ids[1:4] {
			if ev := st2.next(t); ev.data != `{"job-uri":"/api/jobs/`+want+`"}` {
				t.Fatalf("resumed event %+v, want %s", ev, want)
			}
		}
		finishJob(ids[4])
		if ev := st2.next(t); ev.data != `{"job-uri":"/api/jobs/`+ids[4]+`"}` {
			t.Fatalf("live event %+v", ev)
		}
	})
}

func TestEventStreamHeartbeat(t *testing.T) {
	s := newStack(t)
	id := s.job(t, ownerA, "running")
	st := openSSE(t, s, "/api/jobs/"+id+"/events", "")
	st.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), eventLimit)
	defer cancel()
	if !s.clock.WaitForTimers(1, ctx.Done()) {
		t.Fatal("no heartbeat timer")
	}
	s.clock.Advance(15 * time.Second)
	select {
	case ev := <-st.ch:
		if !ev.comment || ev.data != ": heartbeat" {
			t.Fatalf("got %+v, want a heartbeat comment", ev)
		}
	case <-ctx.Done():
		t.Fatal("no heartbeat")
	}
}

// One stalled SSE client and one stalled gRPC stream do not hold up the
// completion for a thousand other watchers.
func TestSlowConsumersDoNotDelayOthers(t *testing.T) {
	s := newStack(t)
	// Bounds every stream of the test, their reads included.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := s.job(t, ownerA, "running")

	stalledSSE := openSSE(t, s, "/api/jobs/"+id+"/events", "")
	_ = stalledSSE // never read
	stalledGRPC, err := s.grpc.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	_ = stalledGRPC // never read

	// A completion stream whose reader has stopped, with small socket
	// buffers on both sides and far more events than they hold: the
	// gateway's write to it is blocked when the job ends.
	blocked := stalledCompletions(t, s)
	// And a gRPC completion stream that is not read, on a connection with
	// a fixed flow-control window: its sends block once the window and
	// the server's write quota (64 KiB each) are used up.
	cc, err := grpc.NewClient(s.grpcConn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	blockedGRPC, err := bcpiiv1.NewJobServiceClient(cc).WatchJobCompletions(ctx, &bcpiiv1.WatchJobCompletionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blockedGRPC.Header(); err != nil {
		t.Fatal(err)
	}
	var earlier []string
	for range 1500 { // some 200 KB of events: several times what the buffers hold
		earlier = append(earlier, s.job(t, ownerA, "complete-200"))
	}

	const n = 1000
	streams := make([]bcpiiv1.JobService_WatchJobClient, n)
	for i := range streams {
		st, err := s.grpc.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := st.Recv(); err != nil || m.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_RUNNING {
			t.Fatalf("watcher %d: %v %v", i, m, err)
		}
		streams[i] = st
	}
	if _, err := s.reg.Finish(ctx, id, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for _, st := range streams {
		go func() {
			m, err := st.Recv()
			switch {
			case err != nil:
				errs <- err
			case m.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE:
				errs <- fmt.Errorf("status %v", m.Job.Status)
			default:
				errs <- nil
			}
		}()
	}
	delivered, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-delivered.Done():
			t.Fatal("completion not delivered to every watcher within 20s")
		}
	}

	// The stalled reader, reading again, gets every completion once.
	blocked.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	seen := map[string]int{}
	for len(seen) < len(earlier)+1 {
		line, err := blocked.r.ReadString('\n')
		if err != nil {
			t.Fatalf("stalled stream after %d completions: %v", len(seen), err)
		}
		if uri, ok := strings.CutPrefix(strings.TrimSpace(line), `data: {"job-uri":"/api/jobs/`); ok {
			seen[strings.TrimSuffix(uri, `"}`)]++
		}
	}
	seenGRPC := map[string]int{}
	for len(seenGRPC) < len(earlier)+1 {
		m, err := blockedGRPC.Recv()
		if err != nil {
			t.Fatalf("stalled gRPC stream after %d completions: %v", len(seenGRPC), err)
		}
		seenGRPC[m.JobId]++
	}
	for _, want := range append(earlier, id) {
		if seen[want] != 1 || seenGRPC[want] != 1 {
			t.Errorf("job %s: %d completion events, %d gRPC completions, want 1 each", want, seen[want], seenGRPC[want])
		}
	}
}

type stalledStream struct {
	conn net.Conn
	r    *bufio.Reader
}

// stalledCompletions opens the completion stream of partition A on a
// gateway server of its own whose connections have a small send buffer,
// from a connection with a small receive buffer, reads the answer's first
// line, and reads no more until the test does.
func stalledCompletions(t *testing.T, s *stack) *stalledStream {
	t.Helper()
	hs := httptest.NewUnstartedServer(s.handler)
	hs.Listener = smallBuffers{hs.Listener}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	tc, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(hs.Certificate())
	conn := tls.Client(tc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET /api/job-completions HTTP/1.1\r\nHost: gateway\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Bounds the read of the first line; the test moves the deadline
	// when it reads on.
	_ = conn.SetReadDeadline(time.Now().Add(eventLimit))
	r := bufio.NewReaderSize(conn, 512)
	if line, err := r.ReadString('\n'); err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("completion stream: %q %v", line, err)
	}
	return &stalledStream{conn: conn, r: r}
}

// smallBuffers gives the connections it accepts a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}
