package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/telemetry"
)

// readyGauge returns bcpii_ready{component} as o's registry serves it.
func readyGauge(t *testing.T, o *ops, component string) float64 {
	t.Helper()
	fams, err := o.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "bcpii_ready" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "component" && l.GetValue() == component {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no bcpii_ready{component=%q}", component)
	return 0
}

// TestReadyGaugeTakesTheLatestCheck: a check that began while the store
// answered, and ends after a later check found it down, does not set
// bcpii_ready back to 1.
func TestReadyGaugeTakesTheLatestCheck(t *testing.T) {
	first, release := make(chan struct{}), make(chan struct{})
	calls := 0
	o := &ops{metrics: telemetry.New(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	o.checks = []readyCheck{{"store", func(ctx context.Context) error {
		calls++
		if calls == 1 { // the slow check of a store that answers
			close(first)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		return errors.New("store unreachable")
	}}}
	slow := make(chan []string, 1)
	go func() { slow <- o.ready(context.Background()) }()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the first check did not begin")
	}
	if failed := o.ready(context.Background()); len(failed) != 1 {
		t.Fatalf("the second check: %v, want the store failed", failed)
	}
	close(release)
	select {
	case failed := <-slow:
		if len(failed) != 0 {
			t.Fatalf("the first check: %v, want none failed", failed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first check did not end")
	}
	if v := readyGauge(t, o, "store"); v != 0 {
		t.Errorf("bcpii_ready{component=\"store\"} = %v after the later check failed, want 0", v)
	}
}
