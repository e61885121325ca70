package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// Server-Sent Events: the REST form of the gRPC watch streams, so HMC-style
// clients learn of job completion without polling.
//
//	GET /api/jobs/{job-id}/events   the job's statuses ("status" events, the
//	                                HMC Query Job Status body as data), then
//	                                one "job-completion" event with
//	                                {"job-uri":...}, then the stream ends
//	GET /api/job-completions        a "job-completion" event for every job of
//	                                the caller's as it ends, until the client
//	                                goes away
//
// Every event has an id; a client that reconnects with Last-Event-ID gets
// what it missed, none twice. A comment line is sent every heartbeat
// interval so idle proxies keep the stream open. The ownership and
// target-name rules apply before any stream starts: another's job answers
// the HMC's 404.1 error body, not an empty stream.

// JobCompletionsPath is the per-caller completion stream.
const JobCompletionsPath = "/api/job-completions"

// DefaultHeartbeat is how often an idle event stream gets a comment line.
const DefaultHeartbeat = 15 * time.Second

// writeTimeout bounds a write to an event stream, so a client that stops
// reading frees its handler: a write that cannot finish within half of it
// (at worst) fails.
const writeTimeout = time.Minute

// doneSuffix marks the id of a job stream's final event: nothing follows.
const doneSuffix = ".done"

func (g *Gateway) outgoing(ctx context.Context, r *http.Request, id *Identity) context.Context {
	md := metadata.MD{}
	if v, ok := r.Header["X-Api-Target-Name"]; ok {
		md.Set(rpctypes.TargetKey, v...)
	}
	if v, ok := r.Header["X-Api-Session"]; ok {
		md.Set(rpctypes.SessionKey, v...)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// streamContext is the context of an event stream. It does not end with
// the request's: a hijacked stream runs on after its handler has returned
// (so that net/http's per-request state can go). It ends when the stream
// does, or a write fails, or the gateway closes: Close calls the cancel
// functions the gateway keeps of its running streams.
func (g *Gateway) streamContext(r *http.Request, id *Identity) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(g.outgoing(r.Context(), r, id)))
	g.streamsMu.Lock()
	defer g.streamsMu.Unlock()
	if g.closed || g.draining {
		cancel()
		return ctx, cancel
	}
	end := &cancel
	g.ends[end] = struct{}{}
	return ctx, func() {
		g.streamsMu.Lock()
		delete(g.ends, end)
		if g.draining && len(g.ends) == 0 {
			g.closeDrained()
		}
		g.streamsMu.Unlock()
		cancel()
	}
}

// closeDrained says that no stream runs any more. It runs under streamsMu.
func (g *Gateway) closeDrained() { closeOnce(g.drained) }

// Shutdown ends the event streams gracefully, for a stop: no new stream
// starts, and those running go on, delivering what comes (a job's final
// status, completions), until they end by themselves or ctx ends. Then
// each stream still running gets a shutdown event, whose retry field has
// an EventSource reconnect soon (to another replica, where there is one,
// resuming with Last-Event-ID), and is ended.
func (g *Gateway) Shutdown(ctx context.Context) {
	g.streamsMu.Lock()
	g.draining = true
	if len(g.ends) == 0 {
		g.closeDrained()
	}
	g.streamsMu.Unlock()
	select {
	case <-g.drained:
	case <-ctx.Done():
	}
	// Each stream still running writes its shutdown event as its call
	// ends, and closes its connection; those that cannot within
	// cutTimeout are closed.
	g.cut.Store(true)
	g.cancelStreams()
	t := time.NewTimer(cutTimeout)
	defer t.Stop()
	select {
	case <-g.streamsGone():
	case <-t.C:
	}
	g.Close()
}

// cutTimeout bounds the writing of the shutdown events.
const cutTimeout = 2 * time.Second

// streamsGone is closed once no hijacked stream connection is open.
func (g *Gateway) streamsGone() <-chan struct{} {
	g.streamsMu.Lock()
	defer g.streamsMu.Unlock()
	if g.gone == nil {
		g.gone = make(chan struct{})
	}
	if len(g.streams) == 0 {
		closeOnce(g.gone)
	}
	return g.gone
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// shutdownEvent tells a client that the stream ends because the gateway
// stops. It has no id field, so that the client's Last-Event-ID stays the
// last event it got.
const shutdownEvent = "event: shutdown\nretry: 1000\ndata: {\"message\":\"The gateway is stopping; reconnect, to another replica where there is one, and resume with Last-Event-ID.\"}\n\n"

func (g *Gateway) jobEvents(w http.ResponseWriter, r *http.Request, _ []byte, id *Identity) {
	jobID := strings.Split(r.URL.EscapedPath(), "/")[3]
	last := r.Header.Get("Last-Event-ID")
	if strings.HasSuffix(last, doneSuffix) {
		// The client has the whole stream. 204 tells an EventSource to stop
		// reconnecting, once the job is known to be the caller's: for
		// anyone else's, or none, the answer is the one any other request
		// gets.
		ctx := g.outgoing(r.Context(), r, id)
		if _, err := g.jobs.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: jobID}); err != nil {
			g.serviceError(ctx, nil, nil, w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ctx, cancel := g.streamContext(r, id)
	stream, err := g.jobs.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: jobID, Cursor: last})
	if err != nil {
		cancel()
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	first, err := stream.Recv()
	switch {
	case errors.Is(err, io.EOF):
		// Every status was sent before; only the completion is left.
		sw := g.startEvents(w, r, cancel)
		_ = sw.finish(event{last + doneSuffix, "job-completion", jobURI(jobID)})
		return
	case err != nil:
		cancel()
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	sw := g.startEvents(w, r, cancel)
	completion := jobURI(jobID) // ready before the job ends
	send := func(msg *bcpiiv1.WatchJobResponse) error {
		if !ended(msg.GetJob()) {
			return sw.event(msg.GetCursor(), "status", string(rpctypes.AppendJob(nil, msg.GetJob())))
		}
		// The final status and the completion go out in one write.
		return sw.finish(
			event{msg.GetCursor(), "status", string(rpctypes.AppendJob(nil, msg.GetJob()))},
			event{msg.GetCursor() + doneSuffix, "job-completion", completion})
	}
	if err := send(first); err != nil || ended(first.GetJob()) {
		sw.end(err)
		return
	}
	follow(rawStream[bcpiiv1.WatchJobRequest](stream), send, sw.end)
	sw.await()
}

func (g *Gateway) completionEvents(w http.ResponseWriter, r *http.Request, _ []byte, id *Identity) {
	ctx, cancel := g.streamContext(r, id)
	stream, err := g.jobs.WatchJobCompletions(ctx, &bcpiiv1.WatchJobCompletionsRequest{Cursor: r.Header.Get("Last-Event-ID")})
	if err != nil {
		cancel()
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	// The server sends a header as soon as it accepts the stream; without
	// one, the stream failed and Recv tells why.
	if md, err := stream.Header(); err != nil || len(md.Get(rpctypes.StreamStartedKey)) == 0 {
		_, err := stream.Recv()
		cancel()
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("completion stream ended before it started")
		}
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	sw := g.startEvents(w, r, cancel)
	follow(rawStream[bcpiiv1.WatchJobCompletionsRequest](stream), func(msg *bcpiiv1.WatchJobCompletionsResponse) error {
		return sw.event(msg.GetCursor(), "job-completion", jobURI(msg.GetJobId()))
	}, sw.end)
	sw.await()
}

// rawStream is the stream under a generated client's.
func rawStream[Req, Res any](s grpc.ServerStreamingClient[Res]) grpc.ClientStream {
	if g, ok := s.(*grpc.GenericClientStream[Req, Res]); ok {
		return g.ClientStream
	}
	return s
}

// follow hands the rest of a stream to deliver, message by message, and
// then its end (what Recv returned: io.EOF for a normal end) to end. An
// in-process stream calls both from its handler's goroutine, so a stream
// waiting for its next message costs the gateway no goroutine, and a
// message reaches the client with no hand-over between goroutines; any
// other stream is read by a goroutine of the gateway's. deliver must not
// keep the message.
func follow[Res any, PRes interface {
	*Res
	proto.Message
}](cs grpc.ClientStream, deliver func(PRes) error, end func(error)) {
	if p, ok := cs.(server.Pusher); ok {
		p.Push(func(m proto.Message) error { return deliver(m.(PRes)) }, end)
		return
	}
	go func() {
		for {
			m := PRes(new(Res))
			err := cs.RecvMsg(m)
			if err == nil {
				err = deliver(m)
			}
			if err != nil {
				end(err)
				return
			}
		}
	}()
}

func jobURI(id string) string {
	return `{"job-uri":` + string(appendJSONString(nil, "/api/jobs/"+id)) + `}`
}

func ended(j *bcpiiv1.Job) bool {
	s := j.GetStatus()
	return s == bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || s == bcpiiv1.JobStatus_JOB_STATUS_CANCELED
}

// eventWriter writes one event stream. The stream takes the connection
// over from net/http (Hijack) once it starts, writing a close-delimited
// HTTP/1.1 body: an idle watcher then holds its TLS connection and little
// more, instead of net/http's per-connection buffers as well. Heartbeats
// come from a timer, so that an idle stream needs no goroutine of its own
// beyond the one waiting for its next message. A hijacked stream's bytes
// are written by the gateway's writers (connWriters), the others' by the
// stream's own goroutine.
type eventWriter struct {
	g      *Gateway
	cancel context.CancelFunc // ends the stream

	mu       sync.Mutex
	conn     net.Conn // the hijacked connection; nil when w is used
	w        http.ResponseWriter
	rc       *http.ResponseController
	buf      []byte        // what write buffered for flush
	deadline time.Time     // the hijacked connection's write deadline
	beat     clock.Timer   // the next heartbeat
	closed   bool          // no more writes
	finished bool          // the stream's last event was sent
	over     chan struct{} // closed by close
	stopGone func() bool   // stops watching the request's end (not hijacked)
	queued   bool          // the writers have the stream (connWriters)
	shut     bool          // close the connection once the writers are done
	werr     error         // a writer's failed write
}

type event struct{ id, name, data string }

func (g *Gateway) startEvents(w http.ResponseWriter, r *http.Request, cancel context.CancelFunc) *eventWriter {
	sw := &eventWriter{g: g, cancel: cancel, w: w, over: make(chan struct{})}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream;charset=UTF-8")
	h.Set("X-Accel-Buffering", "no")
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			// A pipelined request behind this one is not served: the
			// stream ends the connection.
			sw.conn = conn
			sw.w = nil // let net/http's per-request state go
			g.track(conn, true)
			h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
			h.Set("Connection", "close")
			var b strings.Builder
			b.WriteString("HTTP/1.1 200 OK\r\n")
			_ = h.Write(&b)
			b.WriteString("\r\n")
			sw.buf = append(sw.buf, b.String()...)
		}
	}
	if sw.conn == nil {
		w.WriteHeader(http.StatusOK)
		sw.rc = http.NewResponseController(w)
		sw.stopGone = context.AfterFunc(r.Context(), cancel) // the client went
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if err := sw.flushLocked(); err != nil {
		cancel()
	}
	sw.beat = g.clock.AfterFunc(g.heartbeat, sw.heartbeat)
	return sw
}

// end ends the stream when what feeds it has ended (err says how; the
// client learns nothing more than that the stream ended), unless the
// gateway's shutdown ended it: the client is then told so.
func (sw *eventWriter) end(error) {
	if sw.g.cut.Load() {
		sw.mu.Lock()
		if !sw.closed && !sw.finished {
			sw.buf = append(sw.buf, shutdownEvent...)
			_ = sw.flushLocked()
		}
		sw.mu.Unlock()
	}
	sw.close()
}

// await returns when the stream has ended, if it runs on net/http's
// connection; a hijacked stream runs on without the handler.
func (sw *eventWriter) await() {
	if sw.conn == nil {
		<-sw.over
	}
}

func (sw *eventWriter) heartbeat() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed {
		return
	}
	sw.buf = append(sw.buf, ": heartbeat\n\n"...)
	if err := sw.flushLocked(); err != nil {
		sw.cancel() // the client is gone: end the stream
		return
	}
	sw.beat = sw.g.clock.AfterFunc(sw.g.heartbeat, sw.heartbeat)
}

// close ends the stream: no more heartbeats, the stream's context ends and
// a hijacked connection is closed.
func (sw *eventWriter) close() {
	sw.mu.Lock()
	if sw.closed {
		sw.mu.Unlock()
		return
	}
	sw.closed = true
	sw.beat.Stop()
	finished := sw.finished
	sw.mu.Unlock()
	defer close(sw.over)
	end := func() {
		sw.cancel()
		if sw.stopGone != nil {
			sw.stopGone()
		}
		if sw.conn != nil {
			sw.closeWritten()
		}
	}
	if finished && sw.conn != nil {
		// The client has the whole stream and closes its side anyway;
		// ending ours (the call behind the stream, the connection) a
		// moment later keeps the teardown out of the way of deliveries to
		// other watchers when many jobs end at once. Gateway.Close still
		// ends it at once.
		sw.g.clock.AfterFunc(lingerClose, end)
		return
	}
	end()
}

// lingerClose is how long a finished stream's connection stays open.
const lingerClose = 500 * time.Millisecond

func (sw *eventWriter) flushLocked() error {
	if sw.conn == nil {
		if len(sw.buf) > 0 {
			if _, err := sw.w.Write(sw.buf); err != nil {
				return err
			}
			sw.buf = sw.buf[:0]
		}
		_ = sw.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		return sw.rc.Flush()
	}
	switch {
	case sw.werr != nil:
		return sw.werr
	case sw.queued: // the writer takes what is buffered
		return nil
	}
	sw.queued = true
	if sw.g.writers.enqueue(sw) {
		return nil
	}
	sw.queued = false
	err := sw.write(sw.buf)
	sw.buf = nil
	return err
}

// write writes b to the hijacked connection. Its caller is the stream's
// only writer: the one that has it queued, or, when it is not, the one
// holding mu.
func (sw *eventWriter) write(b []byte) error {
	// Moving the deadline costs a timer update in the runtime; a write
	// need only find at least half the write timeout ahead of it.
	if now := time.Now(); sw.deadline.Sub(now) < writeTimeout/2 {
		sw.deadline = now.Add(writeTimeout)
		_ = sw.conn.SetWriteDeadline(sw.deadline)
	}
	_, err := sw.conn.Write(b)
	return err
}

// writeQueued is a writer's turn at the stream: it writes what is
// buffered, and says whether more came meanwhile. A failed write ends the
// stream; a stream whose end came meanwhile has its connection closed.
func (sw *eventWriter) writeQueued() (again bool) {
	sw.mu.Lock()
	// An idle stream keeps no buffer: thousands wait for hours between
	// events, and an event is one allocation of the size it needs.
	b := sw.buf
	sw.buf = nil
	sw.mu.Unlock()
	err := sw.write(b)
	sw.mu.Lock()
	if err != nil && sw.werr == nil {
		sw.werr = err
	}
	if len(sw.buf) > 0 && sw.werr == nil {
		sw.mu.Unlock()
		return true
	}
	sw.buf = nil
	sw.queued = false
	shut := sw.shut
	sw.mu.Unlock()
	if err != nil {
		sw.cancel() // the client is gone: end the stream
	}
	if shut {
		sw.closeConn()
	}
	return false
}

// closeWritten closes the hijacked connection once what the stream has
// buffered is written.
func (sw *eventWriter) closeWritten() {
	sw.mu.Lock()
	if sw.queued {
		sw.shut = true
		sw.mu.Unlock()
		return
	}
	sw.mu.Unlock()
	sw.closeConn()
}

func (sw *eventWriter) closeConn() {
	sw.g.track(sw.conn, false)
	_ = sw.conn.Close()
}

// event sends one event.
func (sw *eventWriter) event(id, name, data string) error {
	return sw.events(event{id, name, data})
}

// events sends events in one write.
func (sw *eventWriter) events(evs ...event) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.eventsLocked(evs)
}

func (sw *eventWriter) eventsLocked(evs []event) error {
	if sw.closed {
		return errors.New("event stream closed")
	}
	n := 0
	for _, ev := range evs {
		n += len("id: \nevent: \ndata: \n\n") + len(ev.id) + len(ev.name) + len(ev.data)
	}
	sw.buf = slices.Grow(sw.buf, n)
	for _, ev := range evs {
		for _, part := range [...]string{"id: ", ev.id, "\nevent: ", ev.name, "\ndata: ", ev.data, "\n\n"} {
			sw.buf = append(sw.buf, part...)
		}
	}
	return sw.flushLocked()
}

// finish sends the stream's last events, in one write, and ends it.
func (sw *eventWriter) finish(evs ...event) error {
	sw.mu.Lock()
	err := sw.eventsLocked(evs)
	sw.finished = err == nil
	sw.mu.Unlock()
	sw.close()
	return err
}

// track records the connections of running event streams, which net/http
// no longer knows once hijacked, so that Close can end them.
func (g *Gateway) track(c net.Conn, add bool) {
	g.streamsMu.Lock()
	defer g.streamsMu.Unlock()
	if add {
		g.streams[c] = struct{}{}
	} else {
		delete(g.streams, c)
		if len(g.streams) == 0 && g.gone != nil {
			closeOnce(g.gone)
		}
	}
}

// Close ends every event stream, for shutdown: their connections are not
// net/http's to close.
func (g *Gateway) Close() {
	g.cancelStreams()
	g.writers.close()
	g.streamsMu.Lock()
	defer g.streamsMu.Unlock()
	for c := range g.streams {
		_ = c.Close()
	}
}

// cancelStreams ends the calls behind the running event streams, and
// lets no new one start.
func (g *Gateway) cancelStreams() {
	g.streamsMu.Lock()
	g.closed = true
	ends := make([]*context.CancelFunc, 0, len(g.ends))
	for end := range g.ends {
		ends = append(ends, end)
	}
	clear(g.ends)
	g.streamsMu.Unlock()
	for _, end := range ends {
		(*end)()
	}
}
