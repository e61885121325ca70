package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// maxResponseBytes bounds an upstream answer the client reads.
const maxResponseBytes = 4 << 20

// maxConnsPerHMC bounds the connections to the upstream HMC: 16 replicas
// behind one address stay within the 128 a gateway allows it by default.
const maxConnsPerHMC = 8

// Client is the upstream backend: Invoke and Resolve serve callers, Run
// follows the jobs.
type Client struct {
	cfg       Config
	base      string // https://host:port
	http      *http.Client
	transport *http.Transport
	reg       *jobs.Registry
	clock     clock.Clock
	log       *slog.Logger
	jitter    func() float64 // in [0, 1)

	// logonSem admits one logon at a time; session is the current
	// X-API-Session, empty before the first logon, with what the logon
	// answered for the notifications. renewed is closed when session is
	// replaced.
	logonSem chan struct{}
	sessMu   sync.Mutex
	session  string
	noteSess noteSession
	renewed  chan struct{}

	notes    *notes
	noteAddr string // the upstream's STOMP interface; empty for none

	targets targetCache

	handoff   chan handed   // Invoke hands new jobs to Run
	recovered chan struct{} // closed when Run has settled earlier runs' jobs
	stopped   chan struct{} // closed when Run stops taking them
	runMu     sync.Mutex
	started   bool
	following followed // the jobs this process follows

	stats stats
}

// New returns a Client for cfg. It reads the CA file but contacts nothing;
// the first request logs on.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	tc, err := tlsConfig(u.Hostname(), cfg.CAFile, cfg.Fingerprint)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.RequestTimeout,
		// At most maxConnsPerHMC requests at once, each on a connection
		// kept for the next: an HMC, or a gateway as upstream, caps the
		// connections of one address, and replicas behind one address
		// share that cap.
		MaxConnsPerHost:     maxConnsPerHMC,
		MaxIdleConnsPerHost: maxConnsPerHMC,
		IdleConnTimeout:     90 * time.Second,
		// The HMC speaks HTTP/1.1; with a TLSClientConfig of its own the
		// transport does not try HTTP/2.
	}
	c := &Client{
		cfg:       cfg,
		base:      u.String(),
		http:      &http.Client{Transport: tr, CheckRedirect: noRedirects},
		transport: tr,
		reg:       cfg.Registry,
		clock:     cfg.Clock,
		log:       cfg.Logger,
		jitter:    rand.Float64,
		logonSem:  make(chan struct{}, 1),
		renewed:   make(chan struct{}),
		notes:     newNotes(),
		noteAddr:  notificationAddr(cfg.NotificationAddr, u.Hostname()),
		handoff:   make(chan handed),
		recovered: make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	return c, nil
}

// An HMC does not redirect; following one could send the session elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Stats counts the requests the client has sent upstream, by kind.
type Stats struct {
	Requests   int64 // all of them
	Logons     int64 // POST /api/sessions
	Logoffs    int64 // DELETE /api/sessions/this-session
	JobQueries int64 // GET /api/jobs/{id}
	JobDeletes int64 // DELETE /api/jobs/{id}
	JobCancels int64 // POST /api/jobs/{id}/operations/cancel
	Operations int64 // forwarded caller requests
	Targets    int64 // lists fetched for the target names
	Failures   int64 // requests that got no HTTP answer
	// With replicas: jobs this replica claimed as it accepted them, and
	// jobs it took over because no replica followed them (a dead
	// replica's, or one whose claim could not be made at once).
	NewClaims, TakenOver int64
}

type stats struct {
	requests, logons, logoffs, jobQueries, jobDeletes, jobCancels, operations, targets, failures atomic.Int64
	newClaims, takenOver                                                                         atomic.Int64
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Requests: s.requests.Load(), Logons: s.logons.Load(), Logoffs: s.logoffs.Load(),
		JobQueries: s.jobQueries.Load(), JobDeletes: s.jobDeletes.Load(), JobCancels: s.jobCancels.Load(),
		Operations: s.operations.Load(), Targets: s.targets.Load(), Failures: s.failures.Load(),
		NewClaims: s.newClaims.Load(), TakenOver: s.takenOver.Load(),
	}
}

// kind is what a request is for: the counter it counts in.
type kind int

const (
	kindOperation kind = iota
	kindLogon
	kindLogoff
	kindJobQuery
	kindJobDelete
	kindJobCancel
	kindTargets
	kindPing // counted only in Requests
)

func (s *stats) count(k kind) {
	s.requests.Add(1)
	switch k {
	case kindOperation:
		s.operations.Add(1)
	case kindLogon:
		s.logons.Add(1)
	case kindLogoff:
		s.logoffs.Add(1)
	case kindJobQuery:
		s.jobQueries.Add(1)
	case kindJobDelete:
		s.jobDeletes.Add(1)
	case kindJobCancel:
		s.jobCancels.Add(1)
	case kindTargets:
		s.targets.Add(1)
	}
}

// response is an upstream answer.
type response struct {
	status int
	body   []byte
}

func (r response) ok() bool { return r.status >= 200 && r.status <= 299 }

// hmcError is the upstream's error body, as far as it is one.
type hmcError struct {
	status  int
	reason  int
	message string
	isHMC   bool // the body was an HMC error object
}

// parseError reads an HMC error body: a JSON object with http-status,
// reason and message. Anything else is not an HMC error; the status line
// then stands alone.
func parseError(status int, body []byte) hmcError {
	e := hmcError{status: status, message: http.StatusText(status)}
	var b struct {
		HTTPStatus *int    `json:"http-status"`
		Reason     *int    `json:"reason"`
		Message    *string `json:"message"`
	}
	if json.Unmarshal(body, &b) != nil || b.Reason == nil {
		return e
	}
	e.isHMC = true
	if *b.Reason >= 0 {
		e.reason = *b.Reason
	}
	if b.Message != nil {
		if m := cleanMessage(*b.Message); m != "" {
			e.message = m
		}
	}
	return e
}

// cleanMessage keeps an upstream message fit to show: valid UTF-8, no
// control characters, at most 512 bytes.
func cleanMessage(m string) string {
	m = strings.ToValidUTF8(m, "\uFFFD")
	m = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, m)
	m = strings.TrimSpace(m)
	if len(m) > 512 {
		cut := 512
		for cut > 0 && !utf8.RuneStart(m[cut]) {
			cut--
		}
		m = m[:cut]
	}
	return m
}

// backendError is the caller's error for a non-2xx upstream answer. An
// answer that is not an HMC error body from a proxy or load balancer in
// front of the HMC (502, 503, 504) means the HMC cannot be reached.
func backendError(r response) *hmcerr.Error {
	e := parseError(r.status, r.body)
	if !e.isHMC && (r.status == 502 || r.status == 503 || r.status == 504) {
		return hmcerr.ErrUnavailable.WithCause(fmt.Errorf("upstream answered %d without an HMC error body", r.status))
	}
	return hmcerr.Upstream(r.status, e.reason, e.message)
}

// send sends one request with session (none when empty). A request that
// gets no answer is 503.1.
func (c *Client) send(ctx context.Context, k kind, method, uri string, body []byte, session string) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+uri, rd)
	if err != nil {
		return response{}, hmcerr.As(fmt.Errorf("upstream: request: %w", err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if session != "" {
		req.Header.Set("X-API-Session", session)
	}
	c.stats.count(k)
	resp, err := c.http.Do(req)
	if err != nil {
		c.stats.failures.Add(1)
		logFailure := c.log.DebugContext
		if tlsRefused(err) || k == kindLogon {
			logFailure = c.log.WarnContext // the operator must act: a certificate, the HMC's address
		}
		logFailure(ctx, "upstream request failed", "method", method, "path", pathOf(uri), "err", err)
		return response{}, hmcerr.ErrUnavailable.WithCause(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		c.stats.failures.Add(1)
		return response{}, hmcerr.ErrUnavailable.WithCause(err)
	}
	if len(b) > maxResponseBytes {
		return response{}, hmcerr.As(fmt.Errorf("upstream: answer to %s %s is larger than %d bytes", method, pathOf(uri), maxResponseBytes))
	}
	c.log.DebugContext(ctx, "upstream request", "method", method, "path", pathOf(uri), "status", resp.StatusCode)
	return response{status: resp.StatusCode, body: b}, nil
}

// pathOf is uri without its query, for logs: a query may be a caller's.
func pathOf(uri string) string {
	p, _, _ := strings.Cut(uri, "?")
	return p
}

// do sends a request in the current session, logging on first if there is
// none, and once more if the upstream no longer knows the session.
func (c *Client) do(ctx context.Context, k kind, method, uri string, body []byte) (response, error) {
	session, err := c.currentSession(ctx)
	if err != nil {
		return response{}, err
	}
	r, err := c.send(ctx, k, method, uri, body, session)
	if err != nil || !sessionRefused(r) {
		return r, err
	}
	c.log.InfoContext(ctx, "upstream session refused; logging on again", "path", pathOf(uri))
	if session, err = c.logon(ctx, session); err != nil {
		return response{}, err
	}
	if r, err = c.send(ctx, k, method, uri, body, session); err != nil {
		return response{}, err
	}
	if sessionRefused(r) {
		return response{}, hmcerr.ErrUnavailable.WithCause(errors.New("upstream: a fresh session was refused"))
	}
	return r, nil
}

// sessionRefused reports a 403.4 or 403.5: the upstream does not know the
// session (it restarted, or the session expired).
func sessionRefused(r response) bool {
	if r.status != 403 {
		return false
	}
	e := parseError(r.status, r.body)
	return e.isHMC && (e.reason == 4 || e.reason == 5)
}

func (c *Client) currentSession(ctx context.Context) (string, error) {
	c.sessMu.Lock()
	s := c.session
	c.sessMu.Unlock()
	if s != "" {
		return s, nil
	}
	return c.logon(ctx, "")
}

// errLogonRefused is logged when the upstream refuses the credentials.
var errLogonRefused = errors.New("upstream: logon refused; check the HMC credentials")

// logon replaces the session stale (empty: none) with a new one, unless
// another request already has; logons are made one at a time.
func (c *Client) logon(ctx context.Context, stale string) (string, error) {
	select {
	case c.logonSem <- struct{}{}:
	case <-ctx.Done():
		return "", hmcerr.ErrUnavailable.WithCause(ctx.Err())
	}
	defer func() { <-c.logonSem }()
	c.sessMu.Lock()
	cur := c.session
	c.sessMu.Unlock()
	if cur != "" && cur != stale {
		return cur, nil
	}
	body, err := json.Marshal(map[string]string{"userid": c.cfg.Credentials.UserID, "password": c.cfg.Credentials.Password})
	if err != nil {
		return "", hmcerr.As(err)
	}
	r, err := c.send(ctx, kindLogon, http.MethodPost, "/api/sessions", body, "")
	if err != nil {
		return "", err
	}
	if !r.ok() {
		e := parseError(r.status, r.body)
		c.log.WarnContext(ctx, "upstream logon failed", "userid", c.cfg.Credentials.UserID,
			"status", r.status, "reason", e.reason, "message", e.message)
		return "", hmcerr.ErrUnavailable.WithCause(fmt.Errorf("%w (%d.%d)", errLogonRefused, r.status, e.reason))
	}
	var a struct {
		Session    string `json:"api-session"`
		Credential string `json:"session-credential"`
		JobTopic   string `json:"job-notification-topic"`
	}
	if err := json.Unmarshal(r.body, &a); err != nil || a.Session == "" {
		return "", hmcerr.ErrUnavailable.WithCause(errors.New("upstream: the logon answer holds no api-session"))
	}
	c.sessMu.Lock()
	c.session = a.Session
	c.noteSess = noteSession{session: a.Session, credential: a.Credential, topic: a.JobTopic}
	close(c.renewed)
	c.renewed = make(chan struct{})
	c.sessMu.Unlock()
	c.log.InfoContext(ctx, "logged on upstream", "userid", c.cfg.Credentials.UserID)
	return a.Session, nil
}

// logoff ends the session, if there is one.
func (c *Client) logoff(ctx context.Context) {
	c.sessMu.Lock()
	s := c.session
	c.session = ""
	c.noteSess = noteSession{}
	c.sessMu.Unlock()
	if s == "" {
		return
	}
	r, err := c.send(ctx, kindLogoff, http.MethodDelete, "/api/sessions/this-session", nil, s)
	switch {
	case err != nil:
		c.log.WarnContext(ctx, "upstream logoff failed", "err", err)
	case !r.ok() && !sessionRefused(r):
		c.log.WarnContext(ctx, "upstream logoff refused", "status", r.status)
	default:
		c.log.InfoContext(ctx, "logged off upstream")
	}
}
