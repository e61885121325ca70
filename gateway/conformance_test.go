package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

var update = flag.Bool("update", false, "rewrite the response sections of testdata/exchanges from what the gateway answers")

// An exchange file holds one HTTP exchange:
//
//	# comment lines
//	setup NAME OWNER STATE   a job of this partition ("mine"), another
//	                         ("other") or the API user alice ("alice")
//	seed NAME ID OWNER       a completed job with a given id
//	session NAME             a session of alice
//	-- request --
//	GET /api/jobs/{NAME} HTTP/1.1   (placeholders {NAME} become job ids)
//	Header: value
//
//	body bytes
//	-- response --
//	HTTP/1.1 200 OK
//	Header: value          must be present with exactly this value
//	!Header                must be absent
//
//	exact body bytes
//
// {HMC-VERSION} in a response is the running build's version. Every
// response is also checked for Date, Server, Cache-Control and X-Request-Id, a
// Content-Length equal to the body length (none for 204), and no
// Grpc-Metadata-* header.
type exchange struct {
	setup    []string
	request  string
	response string
	head     string // everything before "-- response --", kept on update
}

func readExchange(t *testing.T, path string) exchange {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	reqAt := strings.Index(s, "-- request --\n")
	respAt := strings.Index(s, "-- response --\n")
	if reqAt < 0 || respAt < reqAt {
		t.Fatalf("%s: needs a request and then a response section", path)
	}
	var e exchange
	for _, line := range strings.Split(s[:reqAt], "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			e.setup = append(e.setup, line)
		}
	}
	e.request = s[reqAt+len("-- request --\n") : respAt]
	e.response = s[respAt+len("-- response --\n"):]
	e.head = s[:respAt]
	return e
}

func TestConformance(t *testing.T) {
	files, err := filepath.Glob("testdata/exchanges/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("only %d exchange files", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			e := readExchange(t, path)
			s := newStack(t)
			subst := map[string]string{}
			owners := map[string]jobs.Owner{"mine": ownerA, "other": ownerB, "alice": userAlice}
			for _, line := range e.setup {
				f := strings.Fields(line)
				switch {
				case len(f) == 4 && f[0] == "setup" && owners[f[2]] != (jobs.Owner{}):
					subst[f[1]] = s.job(t, owners[f[2]], f[3])
				case len(f) == 4 && f[0] == "seed" && owners[f[3]] != (jobs.Owner{}):
					subst[f[1]] = s.seedJob(t, f[2], owners[f[3]])
				case len(f) == 2 && f[0] == "session":
					subst[f[1]] = s.logon(t)
				default:
					t.Fatalf("bad setup line %q", line)
				}
			}
			expand := func(x string) string {
				for k, v := range subst {
					x = strings.ReplaceAll(x, "{"+k+"}", v)
				}
				return x
			}
			raw := rawRequest(t, expand(e.request))
			status, hdr, body := roundTrip(t, s, raw)
			checkAlways(t, status, hdr, body)
			if *update {
				var b strings.Builder
				b.WriteString(e.head)
				b.WriteString("-- response --\n")
				b.WriteString(status + "\n")
				for _, k := range []string{"Content-Type", "Content-Length", "Cache-Control", "Server", "Allow"} {
					if v := hdr.Get(k); v != "" {
						fmt.Fprintf(&b, "%s: %s\n", k, v)
					} else if k == "Content-Type" {
						b.WriteString("!Content-Type\n")
					}
				}
				b.WriteString("\n")
				out := string(body)
				for k, v := range subst {
					out = strings.ReplaceAll(out, v, "{"+k+"}")
				}
				b.WriteString(out + "\n")
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantStatus, wantHdr, absent, wantBody := parseExpected(t, expand(e.response))
			if status != wantStatus {
				t.Errorf("status line %q, want %q", status, wantStatus)
			}
			for k, v := range wantHdr {
				if got := hdr.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for _, k := range absent {
				if got := hdr.Values(k); len(got) != 0 {
					t.Errorf("header %s = %q, want none", k, got)
				}
			}
			if !bytes.Equal(body, []byte(wantBody)) {
				t.Errorf("body\n got %q\nwant %q", body, wantBody)
			}
		})
	}
}

// rawRequest turns the file's request into wire bytes: CRLF line ends, and
// a Content-Length for a body that has none.
func rawRequest(t *testing.T, req string) []byte {
	t.Helper()
	head, body, _ := strings.Cut(req, "\n\n")
	body = strings.TrimSuffix(body, "\n")
	lines := strings.Split(strings.TrimRight(head, "\n"), "\n")
	hasLength := false
	for _, l := range lines[1:] {
		k, _, _ := strings.Cut(l, ":")
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding") {
			hasLength = true
		}
	}
	if body != "" && !hasLength {
		lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	}
	lines = append(lines, "Host: 127.0.0.1", "Connection: close")
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n" + body)
}

// roundTrip writes raw bytes to the HTTPS server over a verified TLS
// connection and reads one response.
func roundTrip(t *testing.T, s *stack, raw []byte) (string, http.Header, []byte) {
	t.Helper()
	tr := s.client().Transport.(*http.Transport)
	conn, err := tls.Dial("tcp", s.https.Listener.Addr().String(), tr.TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The answer must come within the deadline, or the test fails.
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	statusLine, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(statusLine), br)), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(statusLine, "\r\n"), resp.Header, body
}

func checkAlways(t *testing.T, status string, hdr http.Header, body []byte) {
	t.Helper()
	if id := hdr.Get("X-Request-Id"); len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("X-Request-Id = %q, want 16 hex digits", id)
	}
	if hdr.Get("Date") == "" {
		t.Error("no Date header")
	}
	if hdr.Get("Server") != "bcpii-gateway" {
		t.Errorf("Server = %q", hdr.Get("Server"))
	}
	if hdr.Get("Cache-Control") != "no-cache" {
		t.Errorf("Cache-Control = %q", hdr.Get("Cache-Control"))
	}
	for k := range hdr {
		if strings.HasPrefix(strings.ToLower(k), "grpc-") {
			t.Errorf("gRPC header leaked: %s", k)
		}
	}
	if hdr.Get("Transfer-Encoding") != "" {
		t.Errorf("Transfer-Encoding = %q", hdr.Get("Transfer-Encoding"))
	}
	if strings.Contains(status, " 204 ") {
		if len(hdr.Values("Content-Length")) != 0 || len(body) != 0 || hdr.Get("Content-Type") != "" {
			t.Errorf("204 with a body, Content-Length or Content-Type: %v %q", hdr, body)
		}
		return
	}
	if cl := hdr.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for a body of %d bytes", cl, len(body))
	}
	if len(body) == 0 && hdr.Get("Content-Type") != "" {
		t.Errorf("empty body with Content-Type %q", hdr.Get("Content-Type"))
	}
}

func parseExpected(t *testing.T, resp string) (status string, hdr map[string]string, absent []string, body string) {
	t.Helper()
	head, body, _ := strings.Cut(resp, "\n\n")
	body = strings.TrimSuffix(body, "\n")
	lines := strings.Split(head, "\n")
	status = lines[0]
	hdr = map[string]string{}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "!") {
			absent = append(absent, l[1:])
			continue
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("bad header line %q", l)
		}
		hdr[k] = v
	}
	if !slices.Contains(absent, "Content-Type") && hdr["Content-Type"] == "" && body != "" {
		t.Fatalf("expected response with a body names no Content-Type")
	}
	return status, hdr, absent, body
}
