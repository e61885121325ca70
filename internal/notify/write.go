package notify

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/osmsg"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// frameError is what an ERROR frame says: a short message header and a
// body for people.
type frameError struct {
	message, detail string
}

// The ERROR frames whose wording matters. errLogin is the same for every
// failed login, whichever part was wrong; errNoDestination the same for a
// topic that does not exist and for another's.
var (
	errLogin    = &frameError{"Login failed", "The login and passcode are not valid, or the connection has no identity."}
	errVersion  = &frameError{"Unsupported version", "The gateway speaks STOMP " + stomp.Versions + "; accept-version names none of them."}
	errFeed     = &frameError{"Notifications unavailable", "The job notifications could not be followed; reconnect and subscribe again."}
	errStopping = &frameError{"Gateway stopping", "The gateway is stopping; connect again, to another replica where there is one, subscribe again and query the jobs that ended meanwhile."}
	errBehind   = &frameError{"Too far behind", "The connection fell too far behind its notifications and is closed; reconnect, subscribe again and query the jobs it missed."}
)

// errNoDestination names no destination, so that the answer for another's
// topic is byte for byte the answer for one that does not exist.
var errNoDestination = &frameError{"No such destination", "The destination does not exist or is not accessible to the requester."}

func errUnknownCommand(cmd string, v stomp.Version) *frameError {
	return &frameError{"Unknown command", "The command " + cmd + " is not a STOMP " + v.String() + " client command."}
}

func errFrame(err error) *frameError {
	if errors.Is(err, stomp.ErrTooLarge) {
		return &frameError{"Frame too large", err.Error()}
	}
	return &frameError{"Malformed frame", err.Error()}
}

// errorFrame is the ERROR frame for e, in answer to f (nil when f could not
// be read).
func errorFrame(e *frameError, f *stomp.Frame) *stomp.Frame {
	ef := &stomp.Frame{Command: stomp.CmdError}
	ef.Add("message", e.message)
	if e == errVersion {
		ef.Add("version", stomp.Versions)
	}
	if f != nil {
		if r, ok := f.Get("receipt"); ok {
			ef.Add("receipt-id", r)
		}
	}
	ef.Add("content-type", "text/plain")
	ef.Add("content-length", strconv.Itoa(len(e.detail)))
	ef.Body = []byte(e.detail)
	return ef
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// deliver queues a job-completion message for sub. It never waits: a
// connection that holds MaxQueue undelivered messages is failed instead.
func (c *conn) deliver(sub *subscription, jobURI string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last || c.failed != nil || c.abandoned {
		return
	}
	if c.queued >= c.srv.cfg.MaxQueue {
		c.srv.log.Warn("stomp subscriber too far behind", "conn", c.id, "queued", c.queued)
		c.failed = errorFrame(errBehind, nil)
		c.signal()
		return
	}
	c.queue = append(c.queue, item{sub: sub, jobURI: jobURI})
	c.queued++
	c.signal()
}

// deliverOS queues an os-message notification of msgs, written by the
// partition at object, for sub; as deliver, it never waits.
func (c *conn) deliverOS(sub *subscription, object string, msgs []osmsg.Message) {
	body, err := json.Marshal(map[string]any{"os-messages": msgs})
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last || c.failed != nil || c.abandoned {
		return
	}
	if c.queued >= c.srv.cfg.MaxQueue {
		c.failed = errorFrame(errBehind, nil)
		c.signal()
		return
	}
	c.queue = append(c.queue, item{sub: sub, object: object, osBody: body})
	c.queued++
	c.signal()
}

// send queues a control frame, if f is not nil; last ends the connection
// once it is written.
func (c *conn) send(f *stomp.Frame, last bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last || c.failed != nil || c.abandoned {
		return
	}
	if f != nil {
		c.queue = append(c.queue, item{frame: f})
	}
	c.last = last
	c.signal()
}

// fail ends the connection with an ERROR frame, in place of anything not
// yet written.
func (c *conn) fail(f *stomp.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed == nil && !c.abandoned {
		c.failed = f
		c.signal()
	}
}

// abandon stops the writer: the client is gone.
func (c *conn) abandon() {
	c.mu.Lock()
	c.abandoned = true
	c.queue = nil
	c.mu.Unlock()
	c.signal()
}

// take returns what there is to write, and whether it is the last.
func (c *conn) take() (items []item, last, stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.abandoned:
		return nil, true, true
	case c.failed != nil:
		c.queue, c.queued = nil, 0
		return []item{{frame: c.failed}}, true, false
	}
	items, c.queue, c.queued = c.queue, nil, 0
	return items, c.last, false
}

// writeLoop writes what is queued, and a heart-beat every send when there
// is nothing else (send zero: none), until the last frame is written, the
// client is gone, or a write fails or does not finish within WriteTimeout.
// It closes the socket when it ends, which ends the reader too.
func (c *conn) writeLoop(send time.Duration) {
	defer close(c.done)
	defer c.nc.Close()
	var buf []byte
	for {
		items, last, stop := c.take()
		if stop {
			return
		}
		buf = buf[:0]
		for _, it := range items {
			buf = c.appendItem(buf, it)
		}
		if len(buf) > 0 && !c.write(buf) {
			return
		}
		if cap(buf) > 64<<10 {
			buf = nil // a burst's buffer is not kept by an idle connection
		}
		if last {
			return
		}
		if len(items) > 0 {
			continue
		}
		if !c.wait(send) {
			return
		}
	}
}

// wait waits for something to write; when send passes first, it writes a
// heart-beat. It reports whether the writer goes on.
func (c *conn) wait(send time.Duration) bool {
	if send <= 0 {
		<-c.wake
		return true
	}
	t := c.srv.clock.NewTimer(send)
	defer t.Stop()
	select {
	case <-c.wake:
		return true
	case <-t.C():
		return c.write([]byte{'\n'})
	}
}

func (c *conn) write(b []byte) bool {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err == nil
}

// appendItem encodes it; a message's session-sequence-nr counts the
// messages of the connection from 0.
func (c *conn) appendItem(b []byte, it item) []byte {
	f := it.frame
	if f == nil && it.osBody != nil {
		f = &stomp.Frame{Command: stomp.CmdMessage, Headers: []stomp.Header{
			{Key: "destination", Value: it.sub.dest},
			{Key: "subscription", Value: it.sub.id},
			{Key: "message-id", Value: strconv.FormatInt(c.srv.msgIDs.Add(1), 10)},
			{Key: "notification-type", Value: "os-message"},
			{Key: "object-uri", Value: it.object},
			{Key: "session-sequence-nr", Value: strconv.FormatInt(c.seq, 10)},
			{Key: "content-type", Value: "application/json"},
			{Key: "content-length", Value: strconv.Itoa(len(it.osBody))},
		}, Body: it.osBody}
		if it.sub.anonymous {
			f.Headers = slices.Delete(f.Headers, 1, 2)
		}
		c.seq++
	}
	if f == nil {
		f = &stomp.Frame{Command: stomp.CmdMessage, Headers: []stomp.Header{
			{Key: "destination", Value: it.sub.dest},
			{Key: "subscription", Value: it.sub.id},
			{Key: "message-id", Value: strconv.FormatInt(c.srv.msgIDs.Add(1), 10)},
			{Key: "notification-type", Value: "job-completion"},
			{Key: "job-uri", Value: it.jobURI},
			{Key: "session-sequence-nr", Value: strconv.FormatInt(c.seq, 10)},
			{Key: "content-length", Value: "0"},
		}}
		if it.sub.anonymous {
			f.Headers = slices.Delete(f.Headers, 1, 2)
		}
		c.seq++
	}
	out, err := stomp.AppendFrame(b, f, c.version)
	if err != nil {
		c.srv.log.Error("stomp frame not encodable", "conn", c.id, "command", f.Command, "err", err)
		return b
	}
	return out
}
