package bcpii

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

const (
	alicePassword = "correct horse battery staple"
	bobPassword   = "Tr0ub4dor&3"
)

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newTestSessions(t *testing.T, lifetime time.Duration) (*Sessions, *clocktest.Fake) {
	t.Helper()
	u, err := ParseUsers([]byte(`{"users":[` +
		`{"name":"alice","password-hash":"` + minHash(t, alicePassword) + `"},` +
		`{"name":"bob","password-hash":"` + minHash(t, bobPassword) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.NewFake(start)
	return NewSessionsIn(u, clk, lifetime, nil), clk
}

func wantHMC(t *testing.T, err error, sentinel *hmcerr.Error, kind hmcerr.Kind, status, reason int) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %d.%d", err, status, reason)
	}
	e := hmcerr.As(err)
	if e.Kind != kind || e.HTTPStatus != status || e.Reason != reason {
		t.Fatalf("error %v is %v %d.%d, want %v %d.%d", err, e.Kind, e.HTTPStatus, e.Reason, kind, status, reason)
	}
}

func TestLogon(t *testing.T) {
	s, _ := newTestSessions(t, 0)
	ses, err := s.Logon(context.Background(), "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	// As the HMC spells them: lower-case letters and digits, of its
	// length (IBM's collection tests [a-z0-9]{45,55}); 32 random bytes.
	hmcForm := regexp.MustCompile(`^[a-z0-9]{45,55}$`)
	for name, v := range map[string]string{"ID": ses.ID, "Credential": ses.Credential} {
		b, err := secretEncoding.DecodeString(v)
		if err != nil || len(b) != 32 || !hmcForm.MatchString(v) {
			t.Errorf("%s %q is not 32 bytes in lower-case base32: %v", name, v, err)
		}
	}
	if ses.ID == ses.Credential {
		t.Error("ID and Credential are the same")
	}
	if ses.User != "alice" || ses.Principal().User() != "alice" || ses.Principal().IsPartition() {
		t.Errorf("User %q, Principal %v", ses.User, ses.Principal())
	}
	prefix, ok := strings.CutSuffix(ses.NotificationTopic, ".notification")
	if !ok || !strings.HasPrefix(prefix, "bcpii-gateway.") || ses.JobNotificationTopic != prefix+".job" {
		t.Errorf("topics %q and %q", ses.NotificationTopic, ses.JobNotificationTopic)
	}
	if !ses.Created.Equal(start) || !ses.Expires.Equal(start.Add(DefaultSessionLifetime)) {
		t.Errorf("Created %v, Expires %v", ses.Created, ses.Expires)
	}

	got, err := s.Lookup(context.Background(), ses.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := ses
	want.Credential = ""
	if got != want {
		t.Errorf("Lookup = %+v, want %+v", got, want)
	}

	other, err := s.Logon(context.Background(), "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == ses.ID || other.Credential == ses.Credential || other.NotificationTopic == ses.NotificationTopic {
		t.Error("two logons share a secret or a topic")
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d, want 2", s.Len())
	}
}

func TestLogonFailures(t *testing.T) {
	s, _ := newTestSessions(t, 0)
	ctx := context.Background()
	for name, c := range map[string]struct{ user, password string }{
		"wrong password":               {"alice", bobPassword},
		"another user's password":      {"bob", alicePassword},
		"unknown user":                 {"mallory", alicePassword},
		"user name in another case":    {"Alice", alicePassword},
		"empty password":               {"alice", ""},
		"empty user":                   {"", alicePassword},
		"right password plus a tail":   {"alice", alicePassword + strings.Repeat("x", 72-len(alicePassword)) + "y"},
		"password of 73 bytes":         {"alice", strings.Repeat("x", 73)},
		"password with a NUL appended": {"alice", alicePassword + "\x00"},
	} {
		t.Run(name, func(t *testing.T) {
			ses, err := s.Logon(ctx, c.user, c.password)
			wantHMC(t, err, ErrLogonFailed, hmcerr.PermissionDenied, 403, 0)
			if ses != (Session{}) {
				t.Fatalf("a session beside the error: %v", ses)
			}
		})
	}
	if s.Len() != 0 {
		t.Fatalf("failed logons left %d sessions", s.Len())
	}
}

// TestLogonLongPassword shows why passwords over 72 bytes are refused:
// bcrypt reads only 72, so a longer one would match on its prefix alone.
func TestLogonLongPassword(t *testing.T) {
	long := strings.Repeat("p", 72)
	u, err := ParseUsers([]byte(`{"users":[{"name":"carol","password-hash":"` + minHash(t, long) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSessionsIn(u, clocktest.NewFake(start), 0, nil)
	if _, err := s.Logon(context.Background(), "carol", long); err != nil {
		t.Fatalf("the 72-byte password: %v", err)
	}
	_, err = s.Logon(context.Background(), "carol", long+"anything")
	wantHMC(t, err, ErrLogonFailed, hmcerr.PermissionDenied, 403, 0)
}

func TestLogonWithoutUsers(t *testing.T) {
	t.Parallel()
	for _, u := range []*Users{nil, {}} {
		s := NewSessionsIn(u, nil, 0, nil)
		_, err := s.Logon(context.Background(), "alice", alicePassword)
		wantHMC(t, err, ErrLogonFailed, hmcerr.PermissionDenied, 403, 0)
	}
}

func TestLogonCanceled(t *testing.T) {
	s, _ := newTestSessions(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Logon(ctx, "alice", alicePassword); !errors.Is(err, context.Canceled) {
		t.Fatalf("Logon with a canceled context = %v", err)
	}

	// A logon waiting for a bcrypt slot gives up when its context ends.
	for range cap(s.hashing) {
		s.hashing <- struct{}{}
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := s.Logon(ctx, "alice", alicePassword)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting Logon = %v", err)
	}
}

func TestLookupErrors(t *testing.T) {
	s, _ := newTestSessions(t, 0)
	_, err := s.Lookup(context.Background(), "")
	wantHMC(t, err, ErrNoSession, hmcerr.Unauthenticated, 403, 4)

	for _, id := range []string{randomString(), "short", strings.Repeat("a", 52), strings.Repeat("A", 10000)} {
		_, err := s.Lookup(context.Background(), id)
		wantHMC(t, err, ErrSessionNotValid, hmcerr.Unauthenticated, 403, 5)
	}

	ses, err := s.Logon(context.Background(), "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ses.ID[1:], ses.ID + "A", strings.ToUpper(ses.ID), ses.Credential} {
		if id == ses.ID {
			continue
		}
		_, err := s.Lookup(context.Background(), id)
		wantHMC(t, err, ErrSessionNotValid, hmcerr.Unauthenticated, 403, 5)
	}
}

func TestSessionExpiry(t *testing.T) {
	s, clk := newTestSessions(t, 0)
	ses, err := s.Logon(context.Background(), "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultSessionLifetime)
	if _, err := s.Lookup(context.Background(), ses.ID); err != nil {
		t.Fatalf("at Expires the session has ended already: %v", err)
	}
	clk.Advance(time.Nanosecond)
	_, err = s.Lookup(context.Background(), ses.ID)
	wantHMC(t, err, ErrSessionNotValid, hmcerr.Unauthenticated, 403, 5)
	if s.Len() != 0 {
		t.Fatalf("Lookup left the expired session behind: Len %d", s.Len())
	}
	err = s.Logoff(context.Background(), ses.ID)
	wantHMC(t, err, ErrSessionNotValid, hmcerr.Unauthenticated, 403, 5)
}

func TestSessionLifetime(t *testing.T) {
	for _, tt := range []struct{ give, want time.Duration }{
		{0, 10 * time.Hour},
		{-time.Minute, 10 * time.Hour},
		{5 * time.Minute, 5 * time.Minute},
		{30 * time.Hour, 30 * time.Hour},
	} {
		s, clk := newTestSessions(t, tt.give)
		if s.Lifetime() != tt.want {
			t.Errorf("NewSessionsIn(lifetime %v, nil).Lifetime() = %v, want %v", tt.give, s.Lifetime(), tt.want)
		}
		ses, err := s.Logon(context.Background(), "bob", bobPassword)
		if err != nil {
			t.Fatal(err)
		}
		if got := ses.Expires.Sub(ses.Created); got != tt.want {
			t.Errorf("lifetime %v: session lasts %v, want %v", tt.give, got, tt.want)
		}
		clk.Advance(tt.want)
		if _, err := s.Lookup(context.Background(), ses.ID); err != nil {
			t.Errorf("lifetime %v: ended early: %v", tt.give, err)
		}
		clk.Advance(time.Second)
		if _, err := s.Lookup(context.Background(), ses.ID); !errors.Is(err, ErrSessionNotValid) {
			t.Errorf("lifetime %v: still valid after it: %v", tt.give, err)
		}
	}
}

func TestLogoff(t *testing.T) {
	s, _ := newTestSessions(t, 0)
	a, err := s.Logon(context.Background(), "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Logon(context.Background(), "bob", bobPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logoff(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Lookup(context.Background(), a.ID)
	wantHMC(t, err, ErrSessionNotValid, hmcerr.Unauthenticated, 403, 5)
	err = s.Logoff(context.Background(), a.ID)
	wantHMC(t, err, ErrSessionNotValid, hmcerr.Unauthenticated, 403, 5)
	err = s.Logoff(context.Background(), "")
	wantHMC(t, err, ErrNoSession, hmcerr.Unauthenticated, 403, 4)
	err = s.Logoff(context.Background(), randomString())
	wantHMC(t, err, ErrSessionNotValid, hmcerr.Unauthenticated, 403, 5)
	if _, err := s.Lookup(context.Background(), b.ID); err != nil {
		t.Fatalf("logging alice off ended bob's session: %v", err)
	}
}

func TestSweep(t *testing.T) {
	s, clk := newTestSessions(t, time.Hour)
	ctx := context.Background()
	for range 3 {
		if _, err := s.Logon(ctx, "alice", alicePassword); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(30 * time.Minute)
	late, err := s.Logon(ctx, "bob", bobPassword)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Sweep(); n != 0 {
		t.Fatalf("Sweep before any expiry removed %d", n)
	}
	clk.Advance(31 * time.Minute)
	if n := s.Sweep(); n != 3 {
		t.Fatalf("Sweep removed %d, want 3", n)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}
	if _, err := s.Lookup(context.Background(), late.ID); err != nil {
		t.Fatalf("Sweep removed a live session: %v", err)
	}
}

func TestLogonResponse(t *testing.T) {
	ses := Session{
		ID: "the-id", Credential: "the-credential", User: "alice",
		NotificationTopic: "t.notification", JobNotificationTopic: "t.job",
	}
	b, err := json.Marshal(ses.LogonResponse())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"api-major-version":4,"api-minor-version":10,"api-session":"the-id",` +
		`"job-notification-topic":"t.job","notification-topic":"t.notification",` +
		`"password-expires":-1,"session-credential":"the-credential"}`
	if string(b) != want {
		t.Fatalf("logon answer\n got %s\nwant %s", b, want)
	}
}

// TestSecretsStayOut checks every way this package can show a password or a
// session id: it does not log, so its error values, the printed forms of a
// Session, a Session handed to slog, and the session table itself.
func TestSecretsStayOut(t *testing.T) {
	s, clk := newTestSessions(t, time.Hour)
	ctx := context.Background()
	ses, err := s.Logon(ctx, "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"password":   alicePassword,
		"session id": ses.ID,
		"credential": ses.Credential,
	}
	check := func(what, text string) {
		t.Helper()
		for name, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows the %s: %s", what, name, text)
			}
		}
	}

	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	collect(s.Logon(ctx, "alice", alicePassword+"x"))
	collect(s.Logon(ctx, "mallory", alicePassword))
	collect(s.Logon(ctx, alicePassword, alicePassword))
	collect(s.Lookup(context.Background(), ses.ID+"x"))
	collect(s.Lookup(context.Background(), ses.ID[:42]+"x"))
	collect(s.Lookup(context.Background(), ""))
	errs = append(errs, s.Logoff(context.Background(), ses.Credential))
	collect(HashPassword(strings.Repeat(alicePassword, 3)))
	collect(ParseUsers([]byte("users:\n  - name: alice\n    password-hash: " + alicePassword + "\n")))
	collect(ParseUsers([]byte("users:\n  - name: alice\n    password-hash: !!int " + alicePassword + "\n")))
	collect(ParseUsers([]byte("users: " + alicePassword + "\n")))
	expiring, _ := s.Logon(ctx, "alice", alicePassword)
	secrets["second session id"] = expiring.ID
	clk.Advance(2 * time.Hour)
	collect(s.Lookup(context.Background(), expiring.ID))
	errs = append(errs, s.Logoff(context.Background(), expiring.ID))
	for i, err := range errs {
		if err == nil {
			t.Fatalf("error %d is nil", i)
		}
		check(fmt.Sprintf("error %d", i), err.Error())
		var e *hmcerr.Error
		if errors.As(err, &e) {
			check(fmt.Sprintf("error %d's message", i), e.Message)
		}
	}

	type wrapper struct{ S Session }
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		check("fmt "+format, fmt.Sprintf(format, ses))
		check("fmt "+format+" of a struct holding it", fmt.Sprintf(format, wrapper{ses}))
	}
	asJSON, err := json.Marshal(ses)
	if err != nil {
		t.Fatal(err)
	}
	check("encoding/json", string(asJSON))
	if !strings.Contains(fmt.Sprint(ses), "alice") {
		t.Errorf("the printed Session does not name its user: %v", ses)
	}

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("logon", "session", ses)
	}
	check("slog output", logs.String())
	if !strings.Contains(logs.String(), "alice") {
		t.Errorf("the logged Session does not name its user: %s", logs.String())
	}

	m := s.table.(*memTable)
	m.mu.Lock()
	table := fmt.Sprintf("%#v %v", m.sessions, m.sessions)
	for k := range m.sessions {
		table += string(k[:])
	}
	m.mu.Unlock()
	check("the session table", table)
}

func TestSessionsConcurrent(t *testing.T) {
	s, clk := newTestSessions(t, time.Hour)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 5 {
				ses, err := s.Logon(ctx, "alice", alicePassword)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Lookup(context.Background(), ses.ID); err != nil {
					t.Error(err)
				}
				if i%2 == 0 {
					if err := s.Logoff(context.Background(), ses.ID); err != nil {
						t.Error(err)
					}
				}
				s.Sweep()
				clk.Advance(time.Minute)
			}
		})
	}
	wg.Wait()
}
