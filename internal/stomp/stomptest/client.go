// Package stomptest is a STOMP client for tests, on the stomp frame codec:
// every read and write is bounded, so that a broken server fails a test
// instead of hanging it.
package stomptest

import (
	"net"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// Client speaks STOMP frames over Conn; each read and write must complete
// within Limit.
type Client struct {
	T     testing.TB
	Conn  net.Conn
	Limit time.Duration
	r     *stomp.Reader
	v     stomp.Version
}

// New returns a Client on nc, closed when the test ends.
func New(t testing.TB, nc net.Conn, limit time.Duration) *Client {
	t.Cleanup(func() { nc.Close() })
	return &Client{T: t, Conn: nc, Limit: limit, r: stomp.NewReader(nc, stomp.Limits{}), v: stomp.V12}
}

// SetVersion makes the frames after CONNECT and CONNECTED those of v, both
// ways; a new Client speaks 1.2.
func (c *Client) SetVersion(v stomp.Version) {
	c.v = v
	c.r.SetVersion(v)
}

// Send writes a frame; headers are key, value, ...
func (c *Client) Send(cmd string, headers ...string) {
	c.T.Helper()
	f := &stomp.Frame{Command: cmd}
	for i := 0; i+1 < len(headers); i += 2 {
		f.Add(headers[i], headers[i+1])
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.Limit))
	if err := stomp.WriteFrame(c.Conn, f, c.v); err != nil {
		c.T.Fatalf("send %s: %v", cmd, err)
	}
}

// TryRead reads the next frame within d.
func (c *Client) TryRead(d time.Duration) (*stomp.Frame, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadFrame()
}

// Read reads the next frame within Limit.
func (c *Client) Read() *stomp.Frame {
	c.T.Helper()
	f, err := c.TryRead(c.Limit)
	if err != nil {
		c.T.Fatalf("read: %v", err)
	}
	return f
}

// Expect reads the next frame and checks its command and headers (key,
// value, ...).
func (c *Client) Expect(cmd string, headers ...string) *stomp.Frame {
	c.T.Helper()
	f := c.Read()
	if f.Command != cmd {
		c.T.Fatalf("frame %s %v %q, want %s", f.Command, f.Headers, f.Body, cmd)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if v, _ := f.Get(headers[i]); v != headers[i+1] {
			c.T.Fatalf("%s header %s = %q, want %q (%v)", cmd, headers[i], v, headers[i+1], f.Headers)
		}
	}
	return f
}
