package app_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// stalled is a connection that has sent a request's headers and stalls in
// its body.
type stalled struct {
	conn *tls.Conn
	r    *bufio.Reader
}

// stall opens a connection from the address from, completes its TLS
// handshake, and sends a request whose body never comes; every read and
// write on it is bounded by deadline.
func stall(t *testing.T, g *gateway, from net.IP, deadline time.Time) *stalled {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 10 * time.Second}
	raw, err := d.Dial("tcp", g.addrs.REST)
	if err != nil {
		t.Errorf("dial: %v", err)
		return nil
	}
	_ = raw.SetDeadline(deadline)
	tc := g.tlsConfig()
	tc.ServerName = "localhost"
	c := tls.Client(raw, tc)
	if err := c.Handshake(); err != nil {
		raw.Close()
		t.Errorf("handshake: %v", err)
		return nil
	}
	_, _ = io.WriteString(c, "POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	return &stalled{conn: c, r: bufio.NewReader(c)}
}

// answer reads the answer to the stalled request: status and body, or an
// error if the connection closed without one.
func (s *stalled) answer() (int, string, error) {
	resp, err := http.ReadResponse(s.r, nil)
	if err != nil {
		return 0, "", err
	}
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// 1,000 connections from one address that send a request's headers and
// then stall in its body do not make the gateway unreachable: the first
// MaxConnsPerSource of them are held, every one after is answered 503 and
// closed, and a client from another address is answered all the while.
// The bounds are net/http's, on wall time, so this test waits on real
// deadlines, each bounded; "answered" means within the client's timeout,
// not a speed, which benchmarks measure.
func TestSlowBodyClientsDoNotStarveOthers(t *testing.T) {
	const slow, perSource, parallel = 1000, 50, 25
	g := startGateway(t, nil, func(c *app.Config) {
		c.MaxConnsPerSource = perSource
		c.RESTReadTimeout = 5 * time.Minute // held for the whole test
	})
	attacker := net.IPv4(127, 0, 0, 2)
	deadline := time.Now().Add(3 * time.Minute) // a bound on every read, not a wait

	// The held ones: each has finished its handshake, so the gateway has
	// taken it.
	held := make([]*stalled, perSource)
	var wg sync.WaitGroup
	for i := range held {
		wg.Go(func() { held[i] = stall(t, g, attacker, deadline) })
	}
	wg.Wait()
	defer func() {
		for _, h := range held {
			if h != nil {
				h.conn.Close()
			}
		}
	}()
	if t.Failed() {
		t.FailNow()
	}

	// The rest are refused, a few at a time, while another client is
	// answered.
	var refused atomic.Int64
	sem := make(chan struct{}, parallel)
	for range slow - perSource {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s := stall(t, g, attacker, time.Now().Add(time.Minute))
			if s == nil {
				return
			}
			defer s.conn.Close()
			if code, body, err := s.answer(); code == 503 && strings.Contains(body, "Too many connections") {
				refused.Add(1)
			} else {
				t.Errorf("a connection over the cap: %d %q %v", code, body, err)
			}
		})
	}
	client := g.restClient(t)
	client.Timeout = 10 * time.Second
	for range 20 {
		if a := g.rest(t, client, "GET", "/api/version", nil, ""); a.status != 200 {
			t.Fatalf("GET /api/version beside the slow clients: %d %s", a.status, a.body)
		}
	}
	wg.Wait()
	if n := refused.Load(); n != slow-perSource {
		t.Errorf("%d of %d connections over the cap were refused", n, slow-perSource)
	}
}

// A request whose body never comes is closed when the read timeout ends:
// it holds its connection, and its place under the cap, no longer.
func TestReadTimeoutClosesStalledRequests(t *testing.T) {
	g := startGateway(t, nil, func(c *app.Config) { c.RESTReadTimeout = time.Second })
	s := stall(t, g, net.IPv4(127, 0, 0, 3), time.Now().Add(time.Minute)) // a bound, not a wait
	if s == nil {
		t.FailNow()
	}
	defer s.conn.Close()
	code, body, err := s.answer()
	if err == nil && code < 400 {
		t.Fatalf("a stalled request was answered %d %q", code, body)
	}
	// The connection is closed: nothing more comes.
	if _, err := s.r.ReadByte(); err == nil {
		t.Fatal("the stalled connection is still open")
	}
}

// A chunked body whose last chunk never comes, and a body shorter than its
// Content-Length, are answered when the read timeout ends: an HMC error
// body, 400.0, and the connection closes.
func TestIncompleteBodiesAnsweredInHMCTerms(t *testing.T) {
	g := startGateway(t, nil, func(c *app.Config) { c.RESTReadTimeout = time.Second })
	for name, req := range map[string]string{
		"chunked without its last chunk": "POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"use",
		"shorter than Content-Length":    "POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"userid\"",
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := (&net.Dialer{Timeout: 10 * time.Second}).Dial("tcp", g.addrs.REST)
			if err != nil {
				t.Fatal(err)
			}
			_ = raw.SetDeadline(time.Now().Add(30 * time.Second)) // a bound, not a wait
			tc := g.tlsConfig()
			tc.ServerName = "localhost"
			c := tls.Client(raw, tc)
			defer c.Close()
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Status int  `json:"http-status"`
				Reason *int `json:"reason"`
			}
			if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" ||
				json.Unmarshal(body, &e) != nil || e.Status != 400 || e.Reason == nil || *e.Reason != 0 {
				t.Fatalf("answer %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
}
