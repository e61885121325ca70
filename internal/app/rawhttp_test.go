package app_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRawRESTRefusals sends, over TLS, requests that net/http cannot read
// as far as the gateway's handler, each of a class that net/http would
// answer in plain text by itself, and checks that every answer is the HMC
// error body, JSON, with the HMC's status and reason, and that the
// connection closes after it.
func TestRawRESTRefusals(t *testing.T) {
	g := startGateway(t, nil)
	big := strings.Repeat("x", 40<<10)
	tests := []struct {
		name, raw      string
		status, reason int
		method, uri    string
	}{
		{"headers too large", "GET /api/cpcs HTTP/1.1\r\nHost: localhost\r\nX-Big: " + big + "\r\n\r\n", 400, 0, "GET", "/api/cpcs"},
		{"bad escape in the path", "GET /api/jobs/%zz HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, 0, "GET", "/api/jobs/%zz"},
		{"negative Content-Length", "POST /api/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n", 400, 0, "POST", "/api/sessions"},
		{"huge Content-Length", "POST /api/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, 0, "POST", "/api/sessions"},
		{"two Content-Lengths", "POST /api/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, 0, "POST", "/api/sessions"},
		{"unsupported Transfer-Encoding", "POST /api/sessions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400, 0, "POST", "/api/sessions"},
		{"HTTP/3.0", "GET /api/version HTTP/3.0\r\nHost: localhost\r\n\r\n", 400, 0, "GET", "/api/version"},
		{"no Host", "GET /api/version HTTP/1.1\r\n\r\n", 400, 0, "GET", "/api/version"},
		{"malformed request line", "GARBAGE\r\n\r\n", 400, 0, "", ""},
		{"header without colon", "GET /api/version HTTP/1.1\r\nHost: localhost\r\nbroken header\r\n\r\n", 400, 0, "GET", "/api/version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: waitLimit}, "tcp", g.addrs.REST, g.tlsConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitLimit))
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != tt.status || ct != "application/json;charset=UTF-8" ||
				resp.Header.Get("Server") != "bcpii-gateway" || !resp.Close {
				t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
			}
			var e hmcError
			if err := json.Unmarshal(body, &e); err != nil || e.HTTPStatus != tt.status || e.Reason != tt.reason ||
				e.Method != tt.method || e.URI != tt.uri || e.QueryParms == nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("%d more bytes after the answer; want the connection closed", n)
			}
		})
	}
	// A well-formed request on the same listener is the gateway's own.
	if a := g.rest(t, g.restClient(t), "GET", "/api/version", nil, ""); a.status != 200 {
		t.Fatalf("GET /api/version: %d %s", a.status, a.body)
	}
}

// TestUnmatchedPathLogged: the access line of a request that matches no
// route names its path, without the query, so that an operator sees what
// a client asked for that the gateway does not serve.
func TestUnmatchedPathLogged(t *testing.T) {
	var logs syncBuffer
	g := startGateway(t, slog.New(slog.NewTextHandler(&logs, nil)))
	a := g.rest(t, g.restClient(t), "GET", "/api/no/such/path?secret=x", nil, "")
	wantRESTError(t, a, 404, 1)
	g.stop(t)
	if l := logs.String(); !strings.Contains(l, "route=unmatched") || !strings.Contains(l, "path=/api/no/such/path") || strings.Contains(l, "secret") {
		t.Fatalf("access log:\n%s", l)
	}
}
