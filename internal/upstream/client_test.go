package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/bcpiitest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"

	"go.uber.org/goleak"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type syncBuffer = apptest.LogBuffer

var (
	partition = jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	user      = jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
)

const testInterval = 5 * time.Second

// harness is a Client over a fake HMC, with a registry over a memory
// store and a fake clock; its Run runs until the test ends.
type harness struct {
	t    *testing.T
	hmc  *fakeHMC
	c    *Client
	reg  *jobs.Registry
	clk  *clocktest.Fake
	logs *syncBuffer
	stop func()
}

func newHarness(t *testing.T, hmc *fakeHMC, mod func(*Config)) *harness {
	t.Helper()
	clk := clocktest.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	reg, err := jobs.New(jobs.Config{Store: memstore.New(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return startHarness(t, hmc, reg, clk, mod)
}

func startHarness(t *testing.T, hmc *fakeHMC, reg *jobs.Registry, clk *clocktest.Fake, mod func(*Config)) *harness {
	t.Helper()
	logs := &syncBuffer{}
	cfg := Config{
		URL:          hmc.url(),
		CAFile:       hmc.caFile(),
		Credentials:  Credentials{UserID: hmc.userid, Password: hmc.password},
		Registry:     reg,
		Clock:        clk,
		PollInterval: testInterval,
		// The fake HMC serves no notifications; the end-to-end tests
		// follow a gateway's.
		NotificationAddr: "-",
		Logger:           slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return &harness{t: t, hmc: hmc, c: c, reg: reg, clk: clk, logs: logs, stop: stop}
}

// start starts an LPAR activate (not cancelable) or a partition start
// (cancelable) and returns the local job.
func (h *harness) start(owner jobs.Owner, cancelable bool) jobs.Job {
	h.t.Helper()
	req := bcpii.OperationRequest{Principal: principal(owner), Method: "POST", URI: "/api/logical-partitions/l1/operations/activate", Body: []byte(`{"force":true}`)}
	if owner.Kind == jobs.PartitionOwner {
		req.Target = targetOf("IBM390PS.CPC1.LP1")
	}
	if cancelable {
		req.URI = "/api/partitions/p1/operations/start"
		req.Body = nil
		if !req.Target.IsZero() {
			req.Target = targetOf("IBM390PS.CPC2.PART1")
		}
	}
	resp, err := h.c.Invoke(context.Background(), req)
	if err != nil {
		h.t.Fatalf("Invoke: %v", err)
	}
	id, ok := strings.CutPrefix(resp.JobURI, "/api/jobs/")
	if resp.Status != 202 || !ok || string(resp.Body) != `{"job-uri":"`+resp.JobURI+`"}` {
		h.t.Fatalf("Invoke answered %d %s (job %q)", resp.Status, resp.Body, resp.JobURI)
	}
	j, err := h.reg.Get(context.Background(), jobs.Caller{Owner: owner}, id)
	if err != nil {
		h.t.Fatalf("the started job is not in the registry: %v", err)
	}
	return j
}

// tick moves the clock past one poll of every job once n polls are armed.
func (h *harness) tick(armed int) {
	h.t.Helper()
	if !h.clk.WaitForTimers(armed, timeoutChan(h.t)) {
		h.t.Fatalf("fewer than %d poll timers armed within 10s", armed)
	}
	h.clk.Advance(testInterval * 11 / 10)
}

// timeoutChan closes 10s of real time from now: a bound on a wait, so that
// a test fails rather than hangs.
func timeoutChan(t *testing.T) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx.Done()
}

func wantHMCError(t *testing.T, err error, status, reason int, backend bool) *hmcerr.Error {
	t.Helper()
	var e *hmcerr.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *hmcerr.Error", err)
	}
	if e.HTTPStatus != status || e.Reason != reason || e.Backend != backend {
		t.Fatalf("error %d.%d backend=%v (%v), want %d.%d backend=%v", e.HTTPStatus, e.Reason, e.Backend, err, status, reason, backend)
	}
	return e
}

func TestTrust(t *testing.T) {
	hmc := newFakeHMC(t)
	other := newFakeHMC(t)
	wrongFP := other.fingerprint()
	cases := []struct {
		name     string
		ca, fp   string
		wantFail bool
	}{
		{name: "ca file", ca: hmc.caFile()},
		{name: "pinned", fp: hmc.fingerprint()},
		{name: "pinned lower case without colons", fp: strings.ToLower(strings.ReplaceAll(hmc.fingerprint(), ":", ""))},
		{name: "pinned and ca", ca: hmc.caFile(), fp: hmc.fingerprint()},
		{name: "system roots", wantFail: true},
		{name: "other ca", ca: other.caFile(), wantFail: true},
		{name: "wrong pin", fp: wrongFP, wantFail: true},
		{name: "right pin, other ca", ca: other.caFile(), fp: hmc.fingerprint(), wantFail: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, hmc, func(c *Config) { c.CAFile, c.Fingerprint = tc.ca, tc.fp })
			before := hmc.count("POST /api/sessions")
			_, err := h.c.Invoke(context.Background(), bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/cpcs"})
			if tc.wantFail {
				wantHMCError(t, err, 503, 1, false)
				if hmc.count("POST /api/sessions") != before {
					t.Fatal("the credentials reached an HMC that was not trusted")
				}
				return
			}
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	reg, _ := jobs.New(jobs.Config{Store: memstore.New()})
	defer reg.Close()
	good := Config{URL: "https://hmc.example.com", Credentials: Credentials{UserID: "u", Password: "p"}, Registry: reg}
	if _, err := New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"http":          func(c *Config) { c.URL = "http://hmc.example.com" },
		"path":          func(c *Config) { c.URL = "https://hmc.example.com/api" },
		"user info":     func(c *Config) { c.URL = "https://u:p@hmc.example.com" },
		"no host":       func(c *Config) { c.URL = "https://:6794" },
		"no url":        func(c *Config) { c.URL = "" },
		"bad pin":       func(c *Config) { c.Fingerprint = "AB:CD" },
		"no password":   func(c *Config) { c.Credentials.Password = "" },
		"no registry":   func(c *Config) { c.Registry = nil },
		"missing ca":    func(c *Config) { c.CAFile = filepath.Join(t.TempDir(), "none.pem") },
		"negative poll": func(c *Config) { c.PollInterval = -time.Second },
	} {
		cfg := good
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	u, _ := ParseURL("https://hmc.example.com")
	if u.Host != "hmc.example.com:6794" {
		t.Errorf("default port: %s", u.Host)
	}
}

// The first request logs on; when the HMC forgets the session (a restart)
// the client logs on once more and retries, and a session refused even
// then is 503.1 after exactly one retry. Run logs off when it ends.
func TestLogonRelogonLogoff(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	ctx := context.Background()
	get := func() error {
		_, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/logical-partitions/l1"})
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	if s := h.c.Stats(); s.Logons != 1 || s.Operations != 2 {
		t.Fatalf("after two requests: %+v, want one logon", s)
	}
	hmc.dropSessions()
	if err := get(); err != nil {
		t.Fatalf("after the HMC forgot the session: %v", err)
	}
	if s := h.c.Stats(); s.Logons != 2 || s.Operations != 4 {
		t.Fatalf("after re-logon: %+v, want 2 logons and the request retried once", s)
	}

	// Concurrent requests that all meet a forgotten session share one
	// logon.
	hmc.dropSessions()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := get(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if s := h.c.Stats(); s.Logons != 3 {
		t.Fatalf("20 requests after a restart made %d logons in all, want 3", s.Logons)
	}

	h.stop()
	if n := hmc.count("DELETE /api/sessions/this-session"); n != 1 {
		t.Fatalf("Run ended with %d logoffs, want 1", n)
	}
}

func TestSessionRefusedTwice(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	if _, err := h.c.Invoke(context.Background(), bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/cpcs"}); err != nil {
		t.Fatal(err)
	}
	// Every session is refused from now on: the logon works, the request
	// does not.
	hmc.set(func(h *fakeHMC) { h.refuseSessions = true })
	before := h.c.Stats()
	_, err := h.c.Invoke(context.Background(), bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/cpcs"})
	wantHMCError(t, err, 503, 1, false)
	after := h.c.Stats()
	if after.Operations-before.Operations != 2 || after.Logons-before.Logons != 1 {
		t.Fatalf("a refused session was retried %d times with %d logons, want 1 retry after 1 logon",
			after.Operations-before.Operations-1, after.Logons-before.Logons)
	}
}

// A refused logon is 503.1 to callers, and neither the password nor any
// session id shows in the logs, at debug level, whatever happens.
func TestSecretsStayOutOfLogs(t *testing.T) {
	hmc := newFakeHMC(t)
	bad := newHarness(t, hmc, func(c *Config) { c.Credentials.Password = "wrong-password-xyz" })
	_, err := bad.c.Invoke(context.Background(), bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/cpcs"})
	wantHMCError(t, err, 503, 1, false)
	if strings.Contains(err.Error(), "wrong-password-xyz") {
		t.Fatalf("the error shows the password: %v", err)
	}
	bad.stop()

	h := newHarness(t, hmc, nil)
	j := h.start(user, true)
	hmc.dropSessions()
	if _, err := h.reg.Cancel(context.Background(), jobs.Caller{Owner: user}, j.ID); err != nil {
		t.Fatal(err)
	}
	hmc.waitCount("POST /api/jobs/", 2) // refused, then sent again in a new session
	hmc.end(jobIDOf(t, j), `{"status":"canceled","job-status-code":409,"job-reason-code":0}`)
	h.tick(1)
	hmc.waitCount("DELETE /api/jobs/", 1)
	h.stop()

	logs := bad.logs.String() + h.logs.String()
	for _, secret := range []string{hmc.password, "wrong-password-xyz", "secret"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the logs show %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{"upstream logon failed", "logged on upstream", "upstream cancel accepted", "logged off upstream"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q", want)
		}
	}
	// Printing the credentials hides the password too.
	creds := Credentials{UserID: "gw", Password: "hunter2"}
	for _, s := range []string{fmt.Sprint(creds), fmt.Sprintf("%+v %#v %s %v", creds, creds, creds, &creds)} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "gw") {
			t.Errorf("printed credentials: %s", s)
		}
	}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "creds", creds)
	if strings.Contains(b.String(), "hunter2") {
		t.Errorf("slog shows the password: %s", b.String())
	}
}

// Operations are forwarded as received; a 202 registers a local job owned
// by the caller that remembers the upstream job, before the caller learns
// its local URI.
func TestInvokeRegistersLocalJob(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	j := h.start(partition, false)
	if j.Owner != partition || j.Target != "IBM390PS.CPC1.LP1" || j.Cancelable || j.Status != jobs.Running ||
		j.Operation != "POST /api/logical-partitions/l1/operations/activate" {
		t.Fatalf("local job %+v", j)
	}
	if id := jobIDOf(t, j); id == j.ID {
		t.Fatal("the local job has the upstream's id")
	}
	k := h.start(user, true)
	if !k.Cancelable || k.Target != "" || k.Owner != user {
		t.Fatalf("partition start job %+v", k)
	}
	// Queries pass through with their status and body.
	resp, err := h.c.Invoke(context.Background(), bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/logical-partitions/l1"})
	if err != nil || resp.Status != 200 || string(resp.Body) != `{"name":"LP1","status":"operating"}` || resp.JobURI != "" {
		t.Fatalf("query: %+v %v", resp, err)
	}
}

// The upstream's refusals reach the caller with its status, reason and
// message, marked as the backend's; requests outside the table never
// reach the upstream.
func TestInvokeErrors(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	ctx := context.Background()

	hmc.set(func(h *fakeHMC) {
		h.opError = &answer{409, `{"http-status":409,"reason":1,"message":"The logical partition is in the wrong state.","request-uri":"x"}`}
	})
	_, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "POST", URI: "/api/logical-partitions/l1/operations/load"})
	e := wantHMCError(t, err, 409, 1, true)
	if e.Message != "The logical partition is in the wrong state." || e.Kind != hmcerr.FailedPrecondition {
		t.Fatalf("error %+v", e)
	}
	_, err = h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/logical-partitions/nosuch"})
	wantHMCError(t, err, 404, 1, true)

	// A body that is no HMC error keeps the status line; from a proxy in
	// front of the HMC, it means the HMC cannot be reached.
	hmc.set(func(h *fakeHMC) { h.opError = &answer{500, `<html>Oops</html>`} })
	_, err = h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "POST", URI: "/api/cpcs/c2/operations/stop"})
	if e := wantHMCError(t, err, 500, 0, true); e.Message != "Internal Server Error" {
		t.Fatalf("message %q", e.Message)
	}
	hmc.set(func(h *fakeHMC) { h.opError = &answer{502, `<html>Bad gateway</html>`} })
	_, err = h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "POST", URI: "/api/cpcs/c2/operations/stop"})
	wantHMCError(t, err, 503, 1, false)

	before := h.c.Stats().Requests
	for _, tc := range []struct {
		method, uri    string
		status, reason int
	}{
		{"GET", "/api/users", 404, 1},
		{"GET", "/api/jobs/job-1", 404, 1},
		{"DELETE", "/api/sessions/this-session", 404, 1},
		{"POST", "/api/logical-partitions/l1/operations/mount", 404, 1},
		{"GET", "/api/cpcs/../users", 404, 1},
		{"GET", "/api/cpcs/%2e%2e", 404, 1},
		{"GET", "/api/cpcs/c1/logical-partitions/extra", 404, 1},
		{"DELETE", "/api/cpcs/c1", 405, 0},
		{"GET", "/api/partitions/p1/operations/start", 405, 0},
		{"GET", "/version", 404, 1},
		{"GET", "/api/cpcs?name=a b", 400, 1},
	} {
		_, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: tc.method, URI: tc.uri})
		wantHMCError(t, err, tc.status, tc.reason, false)
	}
	if n := h.c.Stats().Requests; n != before {
		t.Fatalf("refused requests sent %d requests upstream", n-before)
	}
}

// Target names come from the upstream's lists, fetched again on a miss at
// most once per TargetRefresh.
func TestResolve(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, func(c *Config) { c.TargetRefresh = time.Minute })
	for uri, want := range map[string]string{
		"/api/cpcs/c1": "IBM390PS.CPC1",
		"/api/cpcs/c1/logical-partitions?name=LP.*": "IBM390PS.CPC1",
		"/api/logical-partitions/l1":                "IBM390PS.CPC1.LP1",
		"/api/logical-partitions/l1/operations/x":   "IBM390PS.CPC1.LP1",
		"/api/partitions/p1":                        "IBM390PS.CPC2.PART1",
		"/api/cpcs/c2":                              "IBM390PS.CPC2",
	} {
		if got, ok := h.c.Resolve(uri); !ok || got.String() != want {
			t.Errorf("Resolve(%s) = %q %v, want %q", uri, got, ok, want)
		}
	}
	lists := h.c.Stats().Targets
	if lists != 5 { // cpcs, and two lists for each of the two CPCs with a target name
		t.Fatalf("one refresh fetched %d lists, want 5", lists)
	}
	for _, uri := range []string{"/api/cpcs/c3", "/api/cpcs", "/api/logical-partitions/nosuch", "/api/users/u1", "/api/cpcs/.."} {
		if got, ok := h.c.Resolve(uri); ok {
			t.Errorf("Resolve(%s) = %q", uri, got)
		}
	}
	if n := h.c.Stats().Targets; n != lists {
		t.Fatalf("misses within the refresh interval fetched %d more lists", n-lists)
	}
	h.clk.Advance(time.Minute)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { h.c.Resolve("/api/logical-partitions/nosuch") })
	}
	wg.Wait()
	if n := h.c.Stats().Targets; n != 2*lists {
		t.Fatalf("10 concurrent misses after the interval fetched %d lists, want one refresh (%d)", n-lists, lists)
	}
}

// A partition may reach only objects whose target name is known, so that
// X-API-Target-Name was checked; while the upstream is away that is 503.1.
func TestPartitionNeedsKnownTarget(t *testing.T) {
	hmc := newFakeHMC(t)
	h := newHarness(t, hmc, nil)
	ctx := context.Background()
	_, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(partition), Method: "GET", URI: "/api/cpcs/c3"})
	wantHMCError(t, err, 404, 1, false)
	if n := hmc.count("GET /api/cpcs/c3"); n != 0 {
		t.Fatal("a partition's request without a checked target reached the upstream")
	}
	// List CPCs needs no target; an API user needs none.
	if _, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(partition), Method: "GET", URI: "/api/cpcs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(user), Method: "GET", URI: "/api/logical-partitions/l1"}); err != nil {
		t.Fatal(err)
	}
	hmc.set(func(h *fakeHMC) { h.down = true })
	h.clk.Advance(time.Hour)
	if _, ok := h.c.Resolve("/api/logical-partitions/new"); ok {
		t.Fatal("resolved while the upstream is away")
	}
	_, err = h.c.Invoke(ctx, bcpii.OperationRequest{Principal: principal(partition), Method: "GET", URI: "/api/logical-partitions/new"})
	wantHMCError(t, err, 503, 1, false)
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "creds")
	if err := os.WriteFile(p, []byte("# HMC user\r\nuserid: gw\r\n\r\npassword:  p: #w \"q\" \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCredentials(p)
	if err != nil || c.UserID != "gw" || c.Password != `p: #w "q"` {
		t.Fatalf("LoadCredentials = %#v %v", c, err)
	}
	if _, err := LoadCredentials(filepath.Join(dir, "none")); err == nil {
		t.Fatal("missing file accepted")
	}
	// YAML, as the file looks: quotes are YAML's, not the password's.
	for in, want := range map[string]Credentials{
		"userid: \"gw\"\npassword: \"x\"\n":          {UserID: "gw", Password: "x"},
		"userid: gw\npassword: 'it''s #1'\n":         {UserID: "gw", Password: "it's #1"},
		"# HMC user\nuserid: gw\npassword: s3cr3t\n": {UserID: "gw", Password: "s3cr3t"},
		"{userid: gw, password: s3cr3t}":             {UserID: "gw", Password: "s3cr3t"},
		"userid: gw\npassword: upstream: pass #1\n":  {UserID: "gw", Password: "upstream: pass #1"}, // the earlier format
	} {
		if c, err := ParseCredentials([]byte(in)); err != nil || c != want {
			t.Errorf("%q: %#v, %v; want %#v", in, c, err, want)
		}
	}
	for name, in := range map[string]string{
		"empty":          "",
		"no password":    "userid: a\n",
		"no userid":      "password: s3cr3t\n",
		"twice":          "userid: a\nuserid: b\npassword: s3cr3t\n",
		"unknown key":    "userid: a\npassword: s3cr3t\ns3cr3t: x\n",
		"no colon":       "userid: a\ns3cr3t\n",
		"empty value":    "userid: a\npassword:   \n",
		"control":        "userid: a\npassword: s3\x01cr3t\n",
		"not utf-8":      "userid: a\npassword: s3\xffcr3t\n",
		"too long value": "userid: a\npassword: " + strings.Repeat("s", 2000) + "\n",
		"YAML comment":   "userid: a\npassword: s3cr3t #1\n",
		"YAML twice":     "userid: a\npassword: \"s3\"\npassword: \"cr3t\"\n",
	} {
		_, err := ParseCredentials([]byte(in))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "s3") || strings.Contains(err.Error(), "sss") {
			t.Errorf("%s: the error quotes the file: %v", name, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	fp, err := ParseFingerprint("ab:CD:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd")
	if err != nil {
		t.Fatal(err)
	}
	if s := tlsutil.FormatFingerprint(fp); !strings.HasPrefix(s, "AB:CD:00:") || len(s) != 95 {
		t.Fatalf("FormatFingerprint = %s", s)
	}
	for _, bad := range []string{"", "AB", strings.Repeat("g", 64), strings.Repeat("a", 63), "ab:cd" + strings.Repeat(":ab", 30) + "abc", strings.Repeat("ab:", 31) + "a:b"} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", bad)
		}
	}
}

// principal and targetOf are the tests' owner principals and target
// names.
var principal, targetOf = bcpiitest.Principal, bcpiitest.Target
