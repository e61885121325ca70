package app

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// limitListener caps the connections open at once from one source
// address. A connection over the cap gets a clear answer, an HMC error body
// with status 503 and Connection: close, instead of a silent close, so that
// its client knows why; the others are not held up by it.
//
// It sits below TLS, so that net/http still sees TLS connections as such;
// a refused connection gets its own TLS handshake with tls (nil: plaintext).
type limitListener struct {
	net.Listener
	max int
	tls *tls.Config
	// handshake bounds the TLS handshake of a refused connection.
	handshake time.Duration

	mu   sync.Mutex
	open map[netip.Addr]int
}

func newLimitListener(lis net.Listener, max int, tc *tls.Config) *limitListener {
	return &limitListener{Listener: lis, max: max, tls: tc, handshake: 10 * time.Second, open: make(map[netip.Addr]int)}
}

// refusal is the answer to a connection over the cap.
var refusal = func() string {
	const body = `{"http-status":503,"message":"Too many connections from this address are open; close some and try again.","reason":0}`
	return "HTTP/1.1 503 Service Unavailable\r\n" +
		"Server: bcpii-gateway\r\nCache-Control: no-cache\r\nConnection: close\r\n" +
		"Content-Type: application/json;charset=UTF-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c)
		l.mu.Lock()
		over := l.open[src] >= l.max
		if !over {
			l.open[src]++
		}
		l.mu.Unlock()
		if !over {
			return &limitedConn{Conn: c, release: func() { l.release(src) }}, nil
		}
		go l.refuse(c)
	}
}

func (l *limitListener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[src]--; l.open[src] <= 0 {
		delete(l.open, src)
	}
}

// refuse answers a connection over the cap and closes it.
func (l *limitListener) refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(l.handshake))
	if l.tls != nil {
		tc := tls.Server(c, l.tls)
		if err := tc.Handshake(); err != nil {
			return
		}
		c = tc
	}
	if _, err := c.Write([]byte(refusal)); err != nil {
		return
	}
	// Read what the client sent before closing: closing with it unread
	// would reset the connection, and the client might lose the answer.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

func sourceOf(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its place back when it closes, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
