package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
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

// writeTimeout bounds one write to an event stream, so a client that stops
// reading frees its handler.
const writeTimeout = time.Minute

// doneSuffix marks the id of a job stream's final event: nothing follows.
const doneSuffix = ".done"

func (g *Gateway) outgoing(ctx context.Context, r *http.Request, id *Identity) context.Context {
	md := metadata.MD{}
	if id != nil {
		md.Set(server.PrincipalMetadataKey, server.ForwardedPrincipal(id.Principal))
	}
	if v, ok := r.Header["X-Api-Target-Name"]; ok {
		md.Set(server.TargetMetadataKey, v...)
	}
	if v, ok := r.Header["X-Api-Session"]; ok {
		md.Set(server.SessionMetadataKey, v...)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// streamContext is the context of an event stream. It does not end with
// the request's: a hijacked stream runs on after its handler has returned
// (so that net/http's per-request state can go), and ends when the stream
// does, or the client goes, or the gateway closes.
func (g *Gateway) streamContext(r *http.Request, id *Identity) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.WithoutCancel(g.outgoing(r.Context(), r, id)))
}

// serve runs a started stream: on its own goroutine once the connection is
// hijacked, letting the handler return; else in the handler.
func (sw *eventWriter) serve(cancel context.CancelFunc, run func()) {
	body := func() {
		defer cancel()
		defer sw.close()
		run()
	}
	if sw.conn != nil {
		go body()
		return
	}
	body()
}

func (g *Gateway) jobEvents(w http.ResponseWriter, r *http.Request, _ []byte, id *Identity) {
	jobID := strings.Split(r.URL.EscapedPath(), "/")[3]
	last := r.Header.Get("Last-Event-ID")
	if strings.HasSuffix(last, doneSuffix) {
		// The client has the whole stream. 204 tells an EventSource to stop
		// reconnecting.
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
		sw := g.startEvents(w, r)
		sw.serve(cancel, func() { _ = sw.event(last+doneSuffix, "job-completion", jobURI(jobID)) })
		return
	case err != nil:
		cancel()
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	sw := g.startEvents(w, r)
	sw.serve(cancel, func() {
		msgs := recvAll(ctx, stream)
		msg := first
		for {
			if ended(msg.GetJob()) {
				// The final status and the completion go out in one write.
				if sw.write(msg.GetCursor(), "status", string(AppendJob(nil, msg.GetJob()))) == nil {
					sw.finished = sw.event(msg.GetCursor()+doneSuffix, "job-completion", jobURI(jobID)) == nil
				}
				return
			}
			if err := sw.event(msg.GetCursor(), "status", string(AppendJob(nil, msg.GetJob()))); err != nil {
				return
			}
			next, ok := wait(sw, ctx, msgs)
			if !ok {
				return
			}
			msg = next
		}
	})
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
	if md, err := stream.Header(); err != nil || len(md.Get(server.StreamStartedKey)) == 0 {
		_, err := stream.Recv()
		cancel()
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("completion stream ended before it started")
		}
		g.serviceError(ctx, nil, nil, w, r, err)
		return
	}
	sw := g.startEvents(w, r)
	sw.serve(cancel, func() {
		msgs := recvAll(ctx, stream)
		for {
			msg, ok := wait(sw, ctx, msgs)
			if !ok {
				return
			}
			if err := sw.event(msg.GetCursor(), "job-completion", jobURI(msg.GetJobId())); err != nil {
				return
			}
		}
	})
}

func jobURI(id string) string {
	return `{"job-uri":` + string(appendJSONString(nil, "/api/jobs/"+id)) + `}`
}

func ended(j *bcpiiv1.Job) bool {
	s := j.GetStatus()
	return s == bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || s == bcpiiv1.JobStatus_JOB_STATUS_CANCELED
}

// recvAll reads a stream into a channel until it ends; the channel then
// carries no more and err says why.
type recvResult[T any] struct {
	msg T
	err error
}

func recvAll[T any](ctx context.Context, stream interface{ Recv() (T, error) }) <-chan recvResult[T] {
	ch := make(chan recvResult[T], 1)
	go func() {
		defer close(ch)
		for {
			m, err := stream.Recv()
			select {
			case ch <- recvResult[T]{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// eventWriter writes one event stream. The stream takes the connection
// over from net/http (Hijack) once it starts, writing a close-delimited
// HTTP/1.1 body: an idle watcher then holds its TLS connection and little
// more, instead of net/http's per-connection buffers as well.
type eventWriter struct {
	g         *Gateway
	heartbeat time.Duration
	conn      net.Conn // the hijacked connection; nil when w is used
	w         http.ResponseWriter
	rc        *http.ResponseController
	gone      <-chan struct{} // the client went; nil once hijacked
	finished  bool            // the stream's last event was sent
	buf       []byte          // what write buffered for flush
}

func (g *Gateway) startEvents(w http.ResponseWriter, r *http.Request) *eventWriter {
	sw := &eventWriter{g: g, heartbeat: g.heartbeat, w: w}
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
			_ = sw.flush()
			return sw
		}
	}
	w.WriteHeader(http.StatusOK)
	sw.rc = http.NewResponseController(w)
	sw.gone = r.Context().Done()
	_ = sw.flush()
	return sw
}

// close ends a hijacked stream's connection.
func (sw *eventWriter) close() {
	if sw.conn == nil {
		return
	}
	conn, g := sw.conn, sw.g
	end := func() {
		g.track(conn, false)
		_ = conn.Close()
	}
	if sw.finished {
		// The client has the whole stream and closes its side anyway;
		// closing ours a moment later keeps the teardown out of the way of
		// deliveries to other watchers when many jobs end at once.
		time.AfterFunc(lingerClose, end)
		return
	}
	end()
}

// lingerClose is how long a finished stream's connection stays open.
const lingerClose = 500 * time.Millisecond

func (sw *eventWriter) flush() error {
	if sw.conn == nil {
		_ = sw.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		return sw.rc.Flush()
	}
	_ = sw.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := sw.conn.Write(sw.buf)
	sw.buf = sw.buf[:0]
	if cap(sw.buf) > 4096 {
		sw.buf = nil // idle streams keep no large buffer
	}
	return err
}

// event writes one event and sends it.
func (sw *eventWriter) event(id, name, data string) error {
	if err := sw.write(id, name, data); err != nil {
		return err
	}
	return sw.flush()
}

// write buffers one event; flush sends it.
func (sw *eventWriter) write(id, name, data string) error {
	ev := "id: " + id + "\nevent: " + name + "\ndata: " + data + "\n\n"
	if sw.conn != nil {
		sw.buf = append(sw.buf, ev...)
		return nil
	}
	_, err := io.WriteString(sw.w, ev)
	return err
}

// wait returns the stream's next message, writing heartbeats while none
// comes; false when the stream or the client is gone.
func wait[T any](sw *eventWriter, ctx context.Context, msgs <-chan recvResult[T]) (T, bool) { //nolint:revive // ctx after the writer reads better here
	var zero T
	for {
		t := sw.g.clock.NewTimer(sw.heartbeat)
		select {
		case res, ok := <-msgs:
			t.Stop()
			if !ok || res.err != nil {
				return zero, false
			}
			return res.msg, true
		case <-t.C():
			if sw.conn != nil {
				sw.buf = append(sw.buf, ": heartbeat\n\n"...)
			} else if _, err := io.WriteString(sw.w, ": heartbeat\n\n"); err != nil {
				return zero, false
			}
			if err := sw.flush(); err != nil {
				return zero, false
			}
		case <-sw.g.closed:
			t.Stop()
			return zero, false
		case <-sw.gone:
			t.Stop()
			return zero, false
		case <-ctx.Done():
			t.Stop()
			return zero, false
		}
	}
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
	}
}

// Close ends every event stream, for shutdown: their connections are not
// net/http's to close.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() { close(g.closed) })
	g.streamsMu.Lock()
	defer g.streamsMu.Unlock()
	for c := range g.streams {
		_ = c.Close()
	}
}
