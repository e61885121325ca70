package etcdstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"

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
	users := aliceUsers(t)
	clk := clocktest.NewFake(time.Now())
	replica := func() *bcpii.Sessions {
		st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: srv.Client(t), Prefix: "/gw/", RequestTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return bcpii.NewSessionsIn(users, clk, time.Hour, st.Sessions(t.Context()))
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

// TestSessionCache: a replica that has read a session serves later
// lookups of it from its cache, reading nothing from etcd; a logoff at
// another replica reaches the cache through its watch, so the session is
// refused there within moments.
func TestSessionCache(t *testing.T) {
	srv := etcdtest.Start(t)
	users := aliceUsers(t)
	clk := clocktest.NewFake(time.Now())
	var ranges atomic.Int64
	counting := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/etcdserverpb.KV/Range" {
			ranges.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(counting)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	replica := func(c *clientv3.Client) *bcpii.Sessions {
		st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: c, Prefix: "/gw/", RequestTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return bcpii.NewSessionsIn(users, clk, time.Hour, st.Sessions(t.Context()))
	}
	a, b := replica(srv.Client(t)), replica(cli)
	ses, err := a.Logon(t.Context(), "alice", "pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	// The cache serves once its watch runs: within a bound, a lookup reads
	// nothing.
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := ranges.Load()
		if _, err := b.Lookup(t.Context(), ses.ID); err != nil {
			t.Fatal(err)
		}
		if ranges.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("every lookup at the other replica reads etcd")
		}
		time.Sleep(10 * time.Millisecond) // the watch starting; bounded above
	}
	for range 100 {
		before := ranges.Load()
		if _, err := b.Lookup(t.Context(), ses.ID); err != nil {
			t.Fatal(err)
		}
		if n := ranges.Load() - before; n != 0 {
			t.Fatalf("a cached lookup read etcd %d times", n)
		}
	}
	if err := a.Logoff(t.Context(), ses.ID); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, err := b.Lookup(t.Context(), ses.ID)
		if errors.Is(err, bcpii.ErrSessionNotValid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after logoff elsewhere the session still looks up: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // the watch event; bounded above
	}
}

// aliceUsers is a users file of alice, password pw-0123456789.
func aliceUsers(t *testing.T) *bcpii.Users {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw-0123456789"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := bcpii.ParseUsers([]byte("users:\n  - name: alice\n    password-hash: \"" + string(h) + "\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return users
}
