package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// net/http answers by itself, in plain text, the requests it cannot read
// as far as a handler: a malformed request line or header, headers over
// MaxHeaderBytes, a bad or doubled Content-Length, a Transfer-Encoding it
// does not implement, an HTTP version other than 1.x. An HMC client reads
// the http-status and reason of a JSON error body, and a text body is a
// parse error to it. So the REST listener hands net/http connections whose
// writes it watches: an answer that net/http wrote itself (one without the
// Server header every answer of the gateway carries) is replaced by the
// HMC error body with the status and reason below, and the connection
// closes after it, as net/http closes it.
//
// To see those writes in plain text, the listener makes the TLS connection
// itself and gives net/http the connection above TLS; the handler gets the
// TLS state (the client certificate) from the connection's context
// (withTLSState), as net/http would have set it.

// errorAnswers are the HMC errors for net/http's own answers, by status.
var errorAnswers = map[int]*hmcerr.Error{
	http.StatusBadRequest:                    hmcerr.ErrBodyUnreadable.WithMessage("The request is malformed: its request line, a header, its Content-Length or its body framing could not be read."),
	http.StatusRequestHeaderFieldsTooLarge:   hmcerr.ErrBodyUnreadable.WithMessage("The request headers are larger than 32768 bytes."),
	http.StatusNotImplemented:                hmcerr.ErrBodyUnreadable.WithMessage("The request's Transfer-Encoding is not supported; send the body with a Content-Length or chunked."),
	http.StatusHTTPVersionNotSupported:       hmcerr.ErrBodyUnreadable.WithMessage("The HTTP version is not supported; the HMC Web Services API is served over HTTP/1.1."),
	http.StatusRequestEntityTooLarge:         hmcerr.ErrTooLarge,
	http.StatusExpectationFailed:             hmcerr.ErrBodyUnreadable.WithMessage("The request's Expect header is not supported."),
	http.StatusMethodNotAllowed:              hmcerr.ErrMethodNotAllowed,
	http.StatusUnsupportedMediaType:          hmcerr.ErrBodyUnreadable,
	http.StatusServiceUnavailable:            hmcerr.ErrStopping,
	http.StatusRequestURITooLong:             hmcerr.ErrBodyUnreadable.WithMessage("The request URI is too long."),
	http.StatusLengthRequired:                hmcerr.ErrBodyUnreadable.WithMessage("The request needs a Content-Length."),
	http.StatusRequestedRangeNotSatisfiable:  hmcerr.ErrBodyUnreadable,
	http.StatusUnprocessableEntity:           hmcerr.ErrBodyUnreadable,
	http.StatusInternalServerError:           hmcerr.ErrInternal,
	http.StatusMisdirectedRequest:            hmcerr.ErrBodyUnreadable,
	http.StatusPreconditionFailed:            hmcerr.ErrBodyUnreadable,
	http.StatusNetworkAuthenticationRequired: hmcerr.ErrBodyUnreadable,
}

// hmcListener accepts TLS connections (or plain ones without TLS) and
// gives net/http each one wrapped in an hmcConn.
type hmcListener struct {
	net.Listener
	tls *tls.Config // nil: plaintext
}

func (l *hmcListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &hmcConn{Conn: c}
	if l.tls != nil {
		hc.tls = tls.Server(c, l.tls)
		hc.Conn = hc.tls // the handshake runs on the first read, under net/http's deadlines
	}
	return hc, nil
}

// hmcConn watches the answers written to a connection and notes the
// request line of the request being read, for the error body.
type hmcConn struct {
	net.Conn
	tls *tls.Conn // nil: plaintext

	mu       sync.Mutex
	line     []byte // the start of the request read since the last answer
	answered bool   // an answer was begun since then
}

// maxLine bounds what is kept of a request line.
const maxLine = 2 << 10

func (c *hmcConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.answered {
			c.line, c.answered = c.line[:0], false
		}
		if len(c.line) < maxLine && bytes.IndexByte(c.line, '\n') < 0 {
			c.line = append(c.line, p[:min(n, maxLine-len(c.line))]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *hmcConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	first := !c.answered
	c.answered = true
	line := c.line
	c.mu.Unlock()
	if first {
		if answer, ok := rewriteAnswer(p, line); ok {
			if _, err := c.Conn.Write(answer); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// rewriteAnswer is the HMC answer for p when p begins an answer net/http
// wrote itself: an error status, without the gateway's Server header.
func rewriteAnswer(p, requestLine []byte) ([]byte, bool) {
	const prefix = "HTTP/1.1 "
	if len(p) < len(prefix)+3 || string(p[:len(prefix)]) != prefix {
		return nil, false
	}
	code, err := strconv.Atoi(string(p[len(prefix) : len(prefix)+3]))
	if err != nil || code < 400 {
		return nil, false
	}
	head, _, _ := bytes.Cut(p, []byte("\r\n\r\n"))
	if bytes.Contains(head, []byte("\r\nServer: "+gateway.ServerName+"\r\n")) {
		return nil, false // the gateway's own answer
	}
	e, ok := errorAnswers[code]
	if !ok {
		e = hmcerr.ErrBodyUnreadable
	}
	method, uri := "", ""
	if l, _, ok := bytes.Cut(requestLine, []byte("\n")); ok {
		if f := bytes.Fields(l); len(f) == 3 {
			method, uri = string(f[0]), string(f[1])
		}
	}
	return gateway.RawErrorAnswer(e, method, uri), true
}

// connKey carries a connection's hmcConn to its requests' contexts.
type connKey struct{}

// connContext is http.Server.ConnContext: it notes the connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*hmcConn); ok {
		return context.WithValue(ctx, connKey{}, hc)
	}
	return ctx
}

// withTLSState gives each request the TLS state of its connection, as
// net/http gives it to requests on the TLS connections it makes itself.
func withTLSState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hc, ok := r.Context().Value(connKey{}).(*hmcConn); ok && hc.tls != nil && r.TLS == nil {
			st := hc.tls.ConnectionState()
			r.TLS = &st
		}
		h.ServeHTTP(w, r)
	})
}
