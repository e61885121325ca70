package upstream

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

// fakeHMC is a small HMC Web Services API over real HTTPS: sessions, the
// lists, two kinds of operation, and jobs whose end the test decides. It
// stands in for the HMC where a test needs answers the simulated SE never
// gives (white space in job-results, failures, refused cancels).
type fakeHMC struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	userid   string
	password string
	sessions map[string]bool
	jobs     map[string]*fakeJob
	nextID   int
	log      []string // "METHOD /path" of every request
	changed  chan struct{}
	// down aborts every request, as if the network were cut.
	down bool
	// refuseSessions answers every session 403.5, even fresh ones.
	refuseSessions bool
	// failJobQueries answers this many job queries with 500.
	failJobQueries int
	// cancelAnswer, when set, is the answer to Cancel Job instead of 202.
	cancelAnswer *answer
	// opError, when set, answers the next operation instead of starting it.
	opError *answer
	// notifications adds a session-credential and a job-notification-topic
	// to the logon answer, as an HMC offering STOMP does.
	notifications bool
}

// answer is a canned answer.
type answer struct {
	status int
	body   string
}

type fakeJob struct {
	status string // running, cancel-pending, or the final status body
	ended  bool
}

func newFakeHMC(t *testing.T) *fakeHMC {
	h := &fakeHMC{
		t: t, userid: "gw", password: "pa:ss #1 ", sessions: map[string]bool{}, jobs: map[string]*fakeJob{},
		changed: make(chan struct{}),
	}
	// A certificate of its own, so that two fake HMCs are told apart.
	cert, _, err := tlsutil.LoadOrCreate(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewUnstartedServer(h)
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHMC) url() string { return h.srv.URL }

// caFile writes the server's certificate as a PEM file.
func (h *fakeHMC) caFile() string {
	p := filepath.Join(h.t.TempDir(), "hmc.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *fakeHMC) fingerprint() string {
	return tlsutil.FormatFingerprint(sha256.Sum256(h.srv.Certificate().Raw))
}

func (h *fakeHMC) set(f func(h *fakeHMC)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
	h.notify()
}

func (h *fakeHMC) notify() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// count returns how many requests matched prefix ("GET /api/jobs/").
func (h *fakeHMC) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.log {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// waitCount waits until at least n requests match prefix.
func (h *fakeHMC) waitCount(prefix string, n int) {
	h.t.Helper()
	timeout, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if h.count(prefix) >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout.Done():
			h.t.Fatalf("waited 10s for %d requests %q; have %d", n, prefix, h.count(prefix))
		}
	}
}

// dropSessions forgets every session, as an HMC restart does.
func (h *fakeHMC) dropSessions() { h.set(func(h *fakeHMC) { h.sessions = map[string]bool{} }) }

// end ends the job id with the final status body.
func (h *fakeHMC) end(id, body string) {
	h.set(func(h *fakeHMC) { h.jobs[id] = &fakeJob{status: body, ended: true} })
}

func (h *fakeHMC) jobStatus(id string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	j, ok := h.jobs[id]
	if !ok {
		return "", false
	}
	return j.status, true
}

func hmcErr(w http.ResponseWriter, status, reason int, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"http-status":%d,"reason":%d,"message":%q}`, status, reason, msg)
}

func (h *fakeHMC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = append(h.log, r.Method+" "+r.URL.Path)
	defer h.notify()
	if h.down {
		panic(http.ErrAbortHandler)
	}
	if r.Method == "POST" && r.URL.Path == "/api/sessions" {
		var c struct{ Userid, Password string }
		if json.Unmarshal(body, &c) != nil || c.Userid != h.userid || c.Password != h.password {
			hmcErr(w, 403, 0, "Logon failed.")
			return
		}
		h.nextID++
		s := fmt.Sprintf("session-%d-secret", h.nextID)
		h.sessions[s] = true
		if h.notifications {
			fmt.Fprintf(w, `{"api-session":%q,"session-credential":"credential-%d","job-notification-topic":"topic-%d","api-major-version":4,"api-minor-version":10}`, s, h.nextID, h.nextID)
			return
		}
		fmt.Fprintf(w, `{"api-session":%q,"api-major-version":4,"api-minor-version":10}`, s)
		return
	}
	s, present := r.Header["X-Api-Session"]
	switch {
	case !present:
		hmcErr(w, 403, 4, "No session.")
		return
	case !h.sessions[s[0]] || h.refuseSessions:
		hmcErr(w, 403, 5, "Session not valid.")
		return
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	route := r.Method + " " + strings.Join(segs, "/")
	switch {
	case route == "DELETE sessions/this-session":
		delete(h.sessions, s[0])
		w.WriteHeader(204)
	case route == "GET cpcs":
		io.WriteString(w, `{"cpcs":[
			{"object-uri":"/api/cpcs/c1","name":"CPC1","target-name":"ibm390ps.cpc1"},
			{"object-uri":"/api/cpcs/c2","name":"CPC2","target-name":"IBM390PS.CPC2"},
			{"object-uri":"/api/cpcs/c3","name":"NOTARGET"}]}`)
	case route == "GET cpcs/c1/logical-partitions":
		io.WriteString(w, `{"logical-partitions":[{"object-uri":"/api/logical-partitions/l1","name":"LP1"}]}`)
	case route == "GET cpcs/c1/partitions":
		hmcErr(w, 409, 5, "The CPC is not in DPM mode.")
	case route == "GET cpcs/c2/partitions":
		io.WriteString(w, `{"partitions":[{"object-uri":"/api/partitions/p1","name":"PART1","target-name":"IBM390PS.CPC2.PART1"}]}`)
	case route == "GET cpcs/c2/logical-partitions":
		io.WriteString(w, `{"logical-partitions":[]}`)
	case route == "GET logical-partitions/l1":
		io.WriteString(w, `{"name":"LP1","status":"operating"}`)
	case strings.HasPrefix(route, "POST ") && len(segs) == 4 && segs[2] == "operations" && segs[0] != "jobs":
		if a := h.opError; a != nil {
			w.WriteHeader(a.status)
			io.WriteString(w, a.body)
			h.opError = nil
			return
		}
		h.nextID++
		id := fmt.Sprintf("job-%d", h.nextID)
		h.jobs[id] = &fakeJob{status: "running"}
		w.WriteHeader(202)
		fmt.Fprintf(w, `{ "job-uri" : "/api/jobs/%s" }`, id)
	case len(segs) >= 2 && segs[0] == "jobs":
		j := h.jobs[segs[1]]
		if j == nil {
			hmcErr(w, 404, 1, "No such job.")
			return
		}
		switch {
		case route == "GET jobs/"+segs[1]:
			if h.failJobQueries > 0 {
				h.failJobQueries--
				hmcErr(w, 500, 0, "Internal error.")
				return
			}
			if j.ended {
				io.WriteString(w, j.status)
			} else {
				fmt.Fprintf(w, `{"status":%q}`, j.status)
			}
		case route == "POST jobs/"+segs[1]+"/operations/cancel":
			if a := h.cancelAnswer; a != nil {
				w.WriteHeader(a.status)
				io.WriteString(w, a.body)
				return
			}
			if j.ended {
				hmcErr(w, 409, 41, "Ended.")
				return
			}
			j.status = "cancel-pending"
			w.WriteHeader(202)
		case route == "DELETE jobs/"+segs[1]:
			if !j.ended {
				hmcErr(w, 409, 40, "Not ended.")
				return
			}
			delete(h.jobs, segs[1])
			w.WriteHeader(204)
		default:
			hmcErr(w, 404, 1, "Not found.")
		}
	default:
		hmcErr(w, 404, 1, "Not found.")
	}
}

// jobIDOf is the upstream job id of a local job's BackendRef.
func jobIDOf(t *testing.T, j jobs.Job) string {
	t.Helper()
	id, ok := strings.CutPrefix(j.BackendRef, "/api/jobs/")
	if !ok {
		t.Fatalf("BackendRef %q is not an upstream job URI", j.BackendRef)
	}
	return id
}
