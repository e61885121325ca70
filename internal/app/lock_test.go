package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// A second gateway on a data directory in use stops at once with a message
// that says so, whatever its store, and touches nothing there: the first
// one's Unix socket stays and still serves.
func TestSecondGatewayOnDataDirFails(t *testing.T) {
	g := startGateway(t, nil, func(c *app.Config) { c.Socket = "" })
	if g.addrs.Socket == "" {
		t.Fatal("the first gateway serves no Unix socket")
	}
	before, err := os.Stat(g.addrs.Socket)
	if err != nil {
		t.Fatal(err)
	}
	for _, store := range []string{app.StoreMemory, app.StoreBolt} {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // a bound: Run must return at once
		err := app.Run(ctx, app.Config{
			DataDir:   g.cfg.DataDir,
			GRPCAddr:  "127.0.0.1:0",
			RESTAddr:  "127.0.0.1:0",
			StompAddr: "127.0.0.1:0",
			Store:     store,
			OnListening: func(app.Addresses) {
				t.Errorf("store %s: the second gateway listens", store)
			},
		}, slog.New(slog.DiscardHandler))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "in use by another gateway") || !strings.Contains(err.Error(), app.LockFile) {
			t.Errorf("store %s: second gateway: %v, want a refusal naming the lock", store, err)
		}
	}
	after, err := os.Stat(g.addrs.Socket)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the first gateway's socket was replaced or removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(g.cfg.DataDir, "jobs.db")); err == nil {
		t.Error("the second gateway created a bbolt store in the directory in use")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := bcpiiv1.NewJobServiceClient(g.socketConn(t)).ListJobs(ctx, &bcpiiv1.ListJobsRequest{}); err != nil {
		t.Fatalf("the first gateway's socket no longer serves: %v", err)
	}
}
