package app_test

import (
	"bufio"
	"crypto/tls"
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

// 1,000 connections from one address that send a request's headers and
// then stall in its body do not make the gateway unreachable: the first
// MaxConnsPerSource of them are held until the read timeout closes them,
// every one after is answered 503 and closed, and a client from another
// address is answered all the while. The timeouts are net/http's, on wall
// time, so this test waits on real deadlines, each bounded; "answered"
// means within the client's timeout, not a speed, which benchmarks measure.
func TestSlowBodyClientsDoNotStarveOthers(t *testing.T) {
	const slow, perSource, parallel = 1000, 50, 25
	g := startGateway(t, nil, func(c *app.Config) {
		c.MaxConnsPerSource = perSource
		c.RESTReadTimeout = 15 * time.Second
	})
	attacker := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute) // a bound on every read, not a wait

	// stall opens one connection and sends a request that never completes;
	// it reports the answer: refused at once, or closed by the read timeout.
	stall := func() (refused, closed bool) {
		raw, err := attacker.Dial("tcp", g.addrs.REST)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		tc := g.tlsConfig()
		tc.ServerName = "localhost"
		c := tls.Client(raw, tc)
		if err := c.Handshake(); err != nil {
			t.Errorf("handshake: %v", err)
			return
		}
		_, _ = io.WriteString(c, "POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false, true // closed by the read timeout
		}
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 503 && strings.Contains(string(body), "Too many connections"), resp.StatusCode != 503
	}
	var refused, closed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range slow {
		wg.Go(func() {
			if i >= perSource { // the first ones are held, all at once
				sem <- struct{}{}
				defer func() { <-sem }()
			}
			r, c := stall()
			if r {
				refused.Add(1)
			}
			if c {
				closed.Add(1)
			}
		})
	}

	// Meanwhile a client from 127.0.0.1 is answered.
	client := g.restClient(t)
	client.Timeout = 10 * time.Second
	for range 20 {
		if a := g.rest(t, client, "GET", "/api/version", nil, ""); a.status != 200 {
			t.Fatalf("GET /api/version beside the slow clients: %d %s", a.status, a.body)
		}
	}
	wg.Wait()
	// Held connections give their places back when the read timeout
	// closes them, so a slow run may hold a second round.
	if refused.Load() < slow-2*perSource || closed.Load() < perSource || closed.Load()+refused.Load() != slow {
		t.Errorf("of %d slow connections %d were refused and %d closed by the read timeout; want at least %d refused and the rest closed",
			slow, refused.Load(), closed.Load(), slow-2*perSource)
	}
}
