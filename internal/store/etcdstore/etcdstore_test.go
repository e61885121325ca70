package etcdstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/storetest"
)

var prefixes atomic.Int64

// open returns a store under a prefix of its own on srv.
func open(t testing.TB, srv *etcdtest.Server) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.New(t.Context(), etcdstore.Config{
		Client: srv.Client(t),
		Prefix: fmt.Sprintf("/test/%d/", prefixes.Add(1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Check(ctx); err != nil {
			t.Errorf("store inconsistent: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	storetest.Run(t, func(t *testing.T) jobs.Store { return open(t, srv) })
}
