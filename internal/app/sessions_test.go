package app_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

const (
	sessionUser     = "operator"
	sessionPassword = "Sessions-Passw0rd-7q"
	sessionLifetime = time.Hour
)

// sessionGateway runs a gateway with one API user, sessions of an hour, and
// no local identity over TCP, so that only a session identifies a caller.
func sessionGateway(t *testing.T, log *slog.Logger) *gateway {
	t.Helper()
	return startGateway(t, log, func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{sessionUser: sessionPassword})
		c.SessionLifetime = sessionLifetime
		c.NoLoopbackIdentity = true
	})
}

// sessionClients are the two interfaces of one gateway, without client
// certificates.
type sessionClients struct {
	g        *gateway
	sessions bcpiiv1.SessionServiceClient
	jobs     bcpiiv1.JobServiceClient
	rest     *http.Client
}

func newSessionClients(t *testing.T, g *gateway) *sessionClients {
	conn := g.grpcConn(t)
	return &sessionClients{g: g, sessions: bcpiiv1.NewSessionServiceClient(conn), jobs: bcpiiv1.NewJobServiceClient(conn), rest: g.restClient(t)}
}

func (c *sessionClients) logonGRPC(t *testing.T, user, password string) (*bcpiiv1.LogonResponse, error) {
	t.Helper()
	return c.sessions.Logon(withMD(t), &bcpiiv1.LogonRequest{Userid: user, Password: password})
}

func (c *sessionClients) logonREST(t *testing.T, user, password string) answer {
	t.Helper()
	body, err := json.Marshal(map[string]string{"userid": user, "password": password})
	if err != nil {
		t.Fatal(err)
	}
	return c.g.rest(t, c.rest, http.MethodPost, "/api/sessions", nil, string(body))
}

// useGRPC makes a request that needs a session, with session (nil: none).
func (c *sessionClients) useGRPC(t *testing.T, session *string) error {
	t.Helper()
	ctx := withMD(t)
	if session != nil {
		ctx = withMD(t, rpctypes.SessionKey, *session)
	}
	_, err := c.jobs.ListJobs(ctx, &bcpiiv1.ListJobsRequest{})
	return err
}

// useREST makes a request that needs a session, with session (nil: none).
func (c *sessionClients) useREST(t *testing.T, session *string) answer {
	t.Helper()
	var hdr http.Header
	if session != nil {
		hdr = http.Header{"X-Api-Session": {*session}}
	}
	return c.g.rest(t, c.rest, http.MethodGet, "/api/cpcs", hdr, "")
}

// wantSessionWorks checks that session opens both interfaces.
func (c *sessionClients) wantSessionWorks(t *testing.T, session string) {
	t.Helper()
	if err := c.useGRPC(t, &session); err != nil {
		t.Errorf("gRPC with the session: %v", err)
	}
	if ans := c.useREST(t, &session); ans.status != 200 {
		t.Errorf("REST with the session: %d %s", ans.status, ans.body)
	}
}

// wantSessionRefused checks that session (nil: none) is refused with
// 403.reason on both interfaces.
func (c *sessionClients) wantSessionRefused(t *testing.T, session *string, reason int) {
	t.Helper()
	code := codes.Unauthenticated
	wantGRPCError(t, c.useGRPC(t, session), code, 403, int32(reason))
	e := wantRESTError(t, c.useREST(t, session), 403, reason)
	if e.AuthenticatedAs != nil {
		t.Errorf("a refused request is authenticated as %q", *e.AuthenticatedAs)
	}
}

func TestSessions(t *testing.T) {
	g := sessionGateway(t, nil)
	c := newSessionClients(t, g)

	t.Run("logon over gRPC", func(t *testing.T) {
		r, err := c.logonGRPC(t, sessionUser, sessionPassword)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.GetApiSession()) < 32 || len(r.GetSessionCredential()) < 32 || r.GetApiSession() == r.GetSessionCredential() ||
			r.GetNotificationTopic() == "" || r.GetJobNotificationTopic() == "" || r.GetNotificationTopic() == r.GetJobNotificationTopic() ||
			r.GetApiMajorVersion() < 1 || r.GetPasswordExpires() != -1 {
			t.Errorf("Logon = %v", r)
		}
		c.wantSessionWorks(t, r.GetApiSession())
	})

	t.Run("logon over REST", func(t *testing.T) {
		ans := c.logonREST(t, sessionUser, sessionPassword)
		if ans.status != 200 || ans.header.Get("Content-Type") != "application/json;charset=UTF-8" {
			t.Fatalf("POST /api/sessions: %d %q %s", ans.status, ans.header.Get("Content-Type"), ans.body)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(ans.body, &fields); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"api-session", "session-credential", "notification-topic", "job-notification-topic"} {
			var s string
			if err := json.Unmarshal(fields[k], &s); err != nil || s == "" {
				t.Errorf("%s: %s is not a non-empty string", ans.body, k)
			}
		}
		for _, k := range []string{"api-major-version", "api-minor-version", "password-expires"} {
			var n int
			if err := json.Unmarshal(fields[k], &n); err != nil {
				t.Errorf("%s: %s is not a number", ans.body, k)
			}
		}
		// Compact, keys in lexical order, as the HMC writes them.
		keys := []string{}
		dec := json.NewDecoder(bytes.NewReader(ans.body))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.IsSorted(keys) || bytes.ContainsAny(ans.body, " \n") {
			t.Errorf("logon body is not compact with sorted keys: %s", ans.body)
		}
		c.wantSessionWorks(t, jsonField(t, ans.body, "api-session"))
	})

	t.Run("failed logon is 403.0", func(t *testing.T) {
		for name, cred := range map[string][2]string{
			"wrong password":            {sessionUser, sessionPassword + "x"},
			"unknown user":              {"nobody", sessionPassword},
			"user name in another case": {strings.ToUpper(sessionUser), sessionPassword},
			"empty password":            {sessionUser, ""},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := c.logonGRPC(t, cred[0], cred[1])
				if d := wantGRPCError(t, err, codes.PermissionDenied, 403, 0); d.RequestAuthenticatedAs != nil {
					t.Errorf("detail %v", d)
				}
				e := wantRESTError(t, c.logonREST(t, cred[0], cred[1]), 403, 0)
				if e.AuthenticatedAs != nil {
					t.Errorf("failed logon authenticated as %q", *e.AuthenticatedAs)
				}
			})
		}
	})

	t.Run("no session is 403.4", func(t *testing.T) {
		c.wantSessionRefused(t, nil, 4)
		empty := ""
		c.wantSessionRefused(t, &empty, 4)
		// Job requests too.
		_, err := c.jobs.GetJob(withMD(t), &bcpiiv1.GetJobRequest{JobId: jobs.NewID()})
		wantGRPCError(t, err, codes.Unauthenticated, 403, 4)
		wantRESTError(t, g.rest(t, c.rest, http.MethodGet, "/api/jobs/"+jobs.NewID(), nil, ""), 403, 4)
	})

	t.Run("unknown session is 403.5", func(t *testing.T) {
		r, err := c.logonGRPC(t, sessionUser, sessionPassword)
		if err != nil {
			t.Fatal(err)
		}
		real := r.GetApiSession()
		// Same length and alphabet as a real one, one character off.
		last := "A"
		if strings.HasSuffix(real, "A") {
			last = "B"
		}
		flipped := real[:len(real)-1] + last
		for _, s := range []string{flipped, "not-a-session", strings.Repeat("A", len(real)), real + "A"} {
			c.wantSessionRefused(t, &s, 5)
		}
		wantRESTError(t, g.rest(t, c.rest, http.MethodGet, "/api/jobs/"+jobs.NewID(), http.Header{"X-Api-Session": {flipped}}, ""), 403, 5)
	})

	t.Run("logoff", func(t *testing.T) {
		r, err := c.logonGRPC(t, sessionUser, sessionPassword)
		if err != nil {
			t.Fatal(err)
		}
		viaREST := jsonField(t, c.logonREST(t, sessionUser, sessionPassword).body, "api-session")
		viaGRPC := r.GetApiSession()

		ans := g.rest(t, c.rest, http.MethodDelete, "/api/sessions/this-session", http.Header{"X-Api-Session": {viaREST}}, "")
		if ans.status != http.StatusNoContent || len(ans.body) != 0 || ans.header.Get("Content-Type") != "" {
			t.Fatalf("DELETE /api/sessions/this-session: %d %q %s", ans.status, ans.header.Get("Content-Type"), ans.body)
		}
		c.wantSessionRefused(t, &viaREST, 5)
		wantRESTError(t, g.rest(t, c.rest, http.MethodDelete, "/api/sessions/this-session", http.Header{"X-Api-Session": {viaREST}}, ""), 403, 5)

		if _, err := c.sessions.Logoff(withMD(t, rpctypes.SessionKey, viaGRPC), &bcpiiv1.LogoffRequest{}); err != nil {
			t.Fatalf("Logoff: %v", err)
		}
		c.wantSessionRefused(t, &viaGRPC, 5)
		_, err = c.sessions.Logoff(withMD(t, rpctypes.SessionKey, viaGRPC), &bcpiiv1.LogoffRequest{})
		wantGRPCError(t, err, codes.Unauthenticated, 403, 5)
		_, err = c.sessions.Logoff(withMD(t), &bcpiiv1.LogoffRequest{})
		wantGRPCError(t, err, codes.Unauthenticated, 403, 4)
		wantRESTError(t, g.rest(t, c.rest, http.MethodDelete, "/api/sessions/this-session", nil, ""), 403, 4)
	})

	t.Run("version needs no session", func(t *testing.T) {
		v, err := c.sessions.GetVersion(withMD(t), &bcpiiv1.GetVersionRequest{})
		if err != nil || v.GetApiMajorVersion() < 1 {
			t.Errorf("GetVersion = %v, %v", v, err)
		}
		ans := g.rest(t, c.rest, http.MethodGet, "/api/version", nil, "")
		if ans.status != 200 || jsonField(t, ans.body, "hmc-name") == "" {
			t.Errorf("GET /api/version: %d %s", ans.status, ans.body)
		}
	})

	// Last, as it moves the clock: sessions end after their lifetime, on
	// the injected clock, however much they are used.
	t.Run("expiry", func(t *testing.T) {
		r, err := c.logonGRPC(t, sessionUser, sessionPassword)
		if err != nil {
			t.Fatal(err)
		}
		viaGRPC := r.GetApiSession()
		viaREST := jsonField(t, c.logonREST(t, sessionUser, sessionPassword).body, "api-session")

		g.clock.Advance(sessionLifetime - time.Minute)
		c.wantSessionWorks(t, viaGRPC)
		c.wantSessionWorks(t, viaREST)
		g.clock.Advance(time.Minute)
		c.wantSessionWorks(t, viaGRPC) // the last instant of its life

		g.clock.Advance(time.Second)
		c.wantSessionRefused(t, &viaGRPC, 5)
		c.wantSessionRefused(t, &viaREST, 5)
		_, err = c.sessions.Logoff(withMD(t, rpctypes.SessionKey, viaGRPC), &bcpiiv1.LogoffRequest{})
		wantGRPCError(t, err, codes.Unauthenticated, 403, 5)

		// A new logon works again.
		r, err = c.logonGRPC(t, sessionUser, sessionPassword)
		if err != nil {
			t.Fatal(err)
		}
		c.wantSessionWorks(t, r.GetApiSession())
	})
}

type syncBuffer = apptest.LogBuffer

// TestSecretsStayOutOfLogs runs the gateway logging at debug level, logs
// on with right and wrong passwords over both interfaces, uses, expires and
// logs off sessions and provokes errors; then no password, session id or
// session credential is in the log or in any error answer.
func TestSecretsStayOutOfLogs(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var logs syncBuffer
			opts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var h slog.Handler = slog.NewTextHandler(&logs, opts)
			if format == "json" {
				h = slog.NewJSONHandler(&logs, opts)
			}
			g := sessionGateway(t, slog.New(h))
			c := newSessionClients(t, g)

			const wrongPassword = "Wr0ng-Guess-Passw0rd-9z"
			secrets := []string{sessionPassword, wrongPassword}
			var errorAnswers []string // every error body and gRPC error
			grpcErr := func(err error) {
				if err != nil {
					errorAnswers = append(errorAnswers, status.Convert(err).String(), err.Error())
				}
			}
			restAns := func(a answer) answer {
				if a.status >= 400 {
					errorAnswers = append(errorAnswers, string(a.body))
				}
				return a
			}

			// Logons, good and bad, over both interfaces.
			var sessions []string
			for range 2 {
				r, err := c.logonGRPC(t, sessionUser, sessionPassword)
				if err != nil {
					t.Fatal(err)
				}
				sessions = append(sessions, r.GetApiSession())
				secrets = append(secrets, r.GetApiSession(), r.GetSessionCredential())
				a := restAns(c.logonREST(t, sessionUser, sessionPassword))
				sessions = append(sessions, jsonField(t, a.body, "api-session"))
				secrets = append(secrets, jsonField(t, a.body, "api-session"), jsonField(t, a.body, "session-credential"))
			}
			for _, user := range []string{sessionUser, "nobody"} {
				for _, pw := range []string{wrongPassword, sessionPassword} {
					if user == sessionUser && pw == sessionPassword {
						continue
					}
					_, err := c.logonGRPC(t, user, pw)
					grpcErr(err)
					restAns(c.logonREST(t, user, pw))
				}
			}
			// A logon body with the password beside an unknown field, and
			// one with the password of the wrong type.
			restAns(g.rest(t, c.rest, http.MethodPost, "/api/sessions", nil, `{"userid":"`+sessionUser+`","password":"`+sessionPassword+`","extra":1}`))
			restAns(g.rest(t, c.rest, http.MethodPost, "/api/sessions", nil, `{"userid":"`+sessionUser+`","password":["`+sessionPassword+`"]}`))

			// Requests with the sessions: successes and errors.
			objs := g.discover(t, c.rest, http.Header{"X-Api-Session": {sessions[1]}})
			resp, err := bcpiiv1.NewOperationServiceClient(g.grpcConn(t)).Invoke(withMD(t, rpctypes.SessionKey, sessions[0]),
				&bcpiiv1.InvokeRequest{Method: "POST", Uri: objs["PART1"].uri + "/operations/start"})
			if err != nil {
				t.Fatal(err)
			}
			id := jobIDFromURI(t, resp.GetJobUri())
			_, err = c.jobs.GetJob(withMD(t, rpctypes.SessionKey, sessions[0]), &bcpiiv1.GetJobRequest{JobId: id})
			grpcErr(err)
			_, err = c.jobs.DeleteJob(withMD(t, rpctypes.SessionKey, sessions[0]), &bcpiiv1.DeleteJobRequest{JobId: id}) // 409.40
			grpcErr(err)
			_, err = c.jobs.GetJob(withMD(t, rpctypes.SessionKey, sessions[0]), &bcpiiv1.GetJobRequest{JobId: jobs.NewID()}) // 404.1
			grpcErr(err)
			for _, req := range []struct{ method, path, body string }{
				{http.MethodGet, "/api/jobs/" + id, ""},
				{http.MethodDelete, "/api/jobs/" + id, ""},                        // 409.40
				{http.MethodGet, "/api/jobs/" + jobs.NewID(), ""},                 // 404.1
				{http.MethodGet, "/api/jobs/" + id + "?x=1", ""},                  // 400.1
				{http.MethodPut, "/api/jobs/" + id, ""},                           // 405
				{http.MethodPost, "/api/jobs/" + id + "/operations/cancel", "{}"}, // 400.4
				{http.MethodPost, objs["PART2"].uri + "/operations/nothing", ""},  // 404.1
				{http.MethodPost, objs["LP1"].uri + "/operations/activate", `[` + sessionPassword},
			} {
				restAns(g.rest(t, c.rest, req.method, req.path, http.Header{"X-Api-Session": {sessions[1]}}, req.body))
			}
			// Unknown, logged-off and expired sessions.
			unknown := strings.Repeat("Q", len(sessions[0]))
			secrets = append(secrets, unknown)
			grpcErr(c.useGRPC(t, &unknown))
			restAns(c.useREST(t, &unknown))
			restAns(g.rest(t, c.rest, http.MethodDelete, "/api/sessions/this-session", http.Header{"X-Api-Session": {sessions[2]}}, ""))
			grpcErr(c.useGRPC(t, &sessions[2]))
			restAns(c.useREST(t, &sessions[2]))
			_, err = c.sessions.Logoff(withMD(t, rpctypes.SessionKey, sessions[3]), &bcpiiv1.LogoffRequest{})
			grpcErr(err)
			g.clock.Advance(sessionLifetime + time.Second)
			for _, s := range sessions {
				grpcErr(c.useGRPC(t, &s))
				restAns(c.useREST(t, &s))
			}

			g.stop(t) // every log line is written
			log := logs.String()
			if !strings.Contains(log, "SessionService/Logon") || !strings.Contains(log, "simulated operation started") {
				t.Fatalf("the log lacks the calls made; is it captured?\n%s", log)
			}
			if len(errorAnswers) < 20 {
				t.Fatalf("only %d error answers collected", len(errorAnswers))
			}
			for _, s := range secrets {
				if strings.Contains(log, s) {
					t.Errorf("the log holds the secret %q", s)
				}
				for _, a := range errorAnswers {
					if strings.Contains(a, s) {
						t.Errorf("an error answer holds the secret %q: %s", s, a)
					}
				}
			}
		})
	}
}
