package app_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// 1,000 connections from one address that send a request's headers and
// then trickle its body do not make the gateway unreachable: the first
// MaxConnsPerSource of them are held until the read timeout closes them,
// every one after is answered 503 at once and closed, and a client from
// another address is answered promptly all the while. The timeouts are
// net/http's and gRPC's, on wall time, so this test waits on real
// deadlines, each bounded.
func TestSlowBodyClientsDoNotStarveOthers(t *testing.T) {
	const slow, perSource = 1000, 50
	g := startGateway(t, nil, func(c *app.Config) {
		c.MaxConnsPerSource = perSource
		c.RESTReadTimeout = 2 * time.Second
	})
	attacker := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second) // a bound on the whole test, not a wait

	type outcome struct {
		refused, closed bool
	}
	outcomes := make(chan outcome, slow)
	var wg sync.WaitGroup
	for range slow {
		wg.Go(func() {
			raw, err := attacker.Dial("tcp", g.addrs.REST)
			if err != nil {
				t.Errorf("dial: %v", err)
				outcomes <- outcome{}
				return
			}
			defer raw.Close()
			_ = raw.SetDeadline(deadline)
			tc := g.tlsConfig()
			tc.ServerName = "localhost"
			c := tls.Client(raw, tc)
			if err := c.Handshake(); err != nil {
				t.Errorf("handshake: %v", err)
				outcomes <- outcome{}
				return
			}
			_, _ = io.WriteString(c, "POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				outcomes <- outcome{closed: true} // closed by the read timeout
				return
			}
			body, _ := io.ReadAll(resp.Body)
			outcomes <- outcome{refused: resp.StatusCode == 503 && strings.Contains(string(body), "Too many connections"),
				closed: resp.StatusCode != 503}
		})
	}

	// Meanwhile a client from 127.0.0.1 is answered, and promptly.
	client := g.restClient(t)
	client.Timeout = 5 * time.Second
	for range 20 {
		start := time.Now()
		a := g.rest(t, client, "GET", "/api/version", nil, "")
		if a.status != 200 {
			t.Fatalf("GET /api/version beside the slow clients: %d %s", a.status, a.body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("GET /api/version took %v beside the slow clients", d)
		}
	}
	wg.Wait()
	close(outcomes)
	var refused, closed int
	for o := range outcomes {
		if o.refused {
			refused++
		}
		if o.closed {
			closed++
		}
	}
	if refused < slow-perSource || closed+refused != slow {
		t.Errorf("of %d slow connections %d were refused and %d closed by the read timeout; want at least %d refused and the rest closed",
			slow, refused, closed, slow-perSource)
	}
}
