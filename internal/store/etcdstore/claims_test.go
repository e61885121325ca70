package etcdstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// TestClaimsFenceAndTakeover: one replica holds a job's claim and may
// write the job; another may not claim it. Once the holder's client dies
// without releasing anything, its lease lapses within the TTL, the other
// is told, claims the job, and the dead one's fenced write fails.
func TestClaimsFenceAndTakeover(t *testing.T) {
	srv := etcdtest.Start(t)
	const ttl = 2 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// The dying replica has a client of its own, closed to kill it.
	deadCli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer deadCli.Close()
	a, err := etcdstore.New(ctx, etcdstore.Config{Client: deadCli, Prefix: "/claims/", RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := etcdstore.New(ctx, etcdstore.Config{Client: srv.Client(t), Prefix: "/claims/", RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := a.Claims("a", ttl), b.Claims("b", ttl)
	runA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { defer close(doneA); ca.Run(runA) }()
	runB, stopB := context.WithCancel(ctx)
	doneB := make(chan struct{})
	go func() { defer close(doneB); cb.Run(runB) }()
	defer func() { stopB(); <-doneB }()
	defer func() { stopA(); <-doneA }()

	j, err := a.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: jobs.Owner{Kind: jobs.UserOwner, Name: "u"}, Status: jobs.Running, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	held, releaseA, ok, err := ca.Claim(ctx, j.ID)
	if err != nil || !ok {
		t.Fatalf("the first claim: %v %v", ok, err)
	}
	defer releaseA()
	if _, _, ok, err := cb.Claim(ctx, j.ID); err != nil || ok {
		t.Fatalf("a second replica claimed a held job: %v %v", ok, err)
	}
	j.Operation = "written by the holder"
	if j, err = a.Update(held, j); err != nil {
		t.Fatalf("the holder's fenced write: %v", err)
	}
	// Drain the signals so far: the next one must come from the lapse.
	for len(cb.Vacated()) > 0 {
		<-cb.Vacated()
	}

	dead := time.Now()
	_ = deadCli.Close() // no keepalive, no revoke: as kill -9 leaves it
	var claimed context.Context
	for claimed == nil {
		select {
		case <-cb.Vacated():
		case <-ctx.Done():
			t.Fatal("the other replica was never told the job lost its follower")
		}
		c, releaseB, ok, err := cb.Claim(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			claimed = c
			defer releaseB()
		}
	}
	if took := time.Since(dead); took > 2*ttl+time.Second {
		t.Errorf("the takeover took %v, TTL %v", took, ttl)
	}
	t.Logf("taken over %v after the holder died (TTL %v)", time.Since(dead).Round(time.Millisecond), ttl)

	j.Operation = "written by the new holder"
	if j, err = b.Update(claimed, j); err != nil {
		t.Fatalf("the new holder's fenced write: %v", err)
	}
	select {
	case <-held.Done():
	default:
		t.Error("the lapsed claim's context has not ended")
	}
	// The old holder's fence no longer holds, even written through a live
	// client, and even by a writer that ignores the claim's end.
	j.Operation = "written under the lapsed claim"
	if _, err := b.Update(context.WithoutCancel(held), j); !errors.Is(err, etcdstore.ErrFenced) {
		t.Errorf("a write under the lapsed claim: %v, want ErrFenced", err)
	}
}
