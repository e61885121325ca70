package etcdstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// TestSessionsAcrossReplicas logs on through one replica's table and uses,
// logs off and outlives the session through another's, each with its own
// etcd client on the same prefix.
func TestSessionsAcrossReplicas(t *testing.T) {
	srv := etcdtest.Start(t)
	h, err := bcrypt.GenerateFromPassword([]byte("pw-0123456789"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := bcpii.ParseUsers([]byte("users:\n  - name: alice\n    password-hash: \"" + string(h) + "\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.NewFake(time.Now())
	replica := func() *bcpii.Sessions {
		st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: srv.Client(t), Prefix: "/gw/", RequestTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return bcpii.NewSessionsIn(users, clk, time.Hour, st.Sessions())
	}
	a, b := replica(), replica()

	ses, err := a.Logon(t.Context(), "alice", "pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.LookupCredential(context.Background(), ses.ID, ses.Credential)
	if err != nil || got.User != "alice" || got.JobNotificationTopic != ses.JobNotificationTopic || !got.Expires.Equal(ses.Expires) {
		t.Fatalf("the other replica looks the session up as %v, %v", got, err)
	}
	if _, err := b.LookupCredential(context.Background(), ses.ID, "wrong"); !errors.Is(err, bcpii.ErrSessionNotValid) {
		t.Errorf("a wrong credential at the other replica: %v, want 403.5", err)
	}
	if user, ok := b.JobTopicUser(ses.JobNotificationTopic); !ok || user != "alice" {
		t.Errorf("the other replica finds the job topic's user as %q, %v", user, ok)
	}
	if n := b.Len(); n != 1 {
		t.Errorf("the other replica counts %d sessions, want 1", n)
	}
	if err := b.Logoff(context.Background(), ses.ID); err != nil {
		t.Fatalf("logoff at the other replica: %v", err)
	}
	if _, err := a.Lookup(context.Background(), ses.ID); !errors.Is(err, bcpii.ErrSessionNotValid) {
		t.Errorf("after logoff elsewhere the first replica looks the session up: %v, want 403.5", err)
	}
	if err := a.Logoff(context.Background(), ses.ID); !errors.Is(err, bcpii.ErrSessionNotValid) {
		t.Errorf("a second logoff: %v, want 403.5", err)
	}
	if _, ok := a.JobTopicUser(ses.JobNotificationTopic); ok {
		t.Error("a logged-off session's topic is still owned")
	}

	ses2, err := b.Logon(t.Context(), "alice", "pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour + time.Second)
	if _, err := a.Lookup(context.Background(), ses2.ID); !errors.Is(err, bcpii.ErrSessionNotValid) {
		t.Errorf("an expired session: %v, want 403.5", err)
	}

	ses3, err := a.Logon(t.Context(), "alice", "pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err = b.Lookup(context.Background(), ses3.ID)
	if e := hmcerr.As(err); e.HTTPStatus != 503 || e.Reason != 1 {
		t.Errorf("a lookup with etcd down: %v, want 503.1", err)
	}
}
