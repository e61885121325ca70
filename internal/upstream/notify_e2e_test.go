package upstream_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// logWatch is a slog handler that reports each record whose message holds
// a text, and discards the rest.
type logWatch struct {
	text string
	seen chan struct{}
}

func (l *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (l *logWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, l.text) {
		select {
		case l.seen <- struct{}{}:
		default:
		}
	}
	return nil
}
func (l *logWatch) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logWatch) WithGroup(string) slog.Handler      { return l }

// next waits, within waitLimit, for the next record that holds the text.
func (l *logWatch) next(t *testing.T, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	select {
	case <-l.seen:
	case <-ctx.Done():
		t.Fatalf("%s: no %q logged within %v", what, l.text, waitLimit)
	}
}

// A downstream that follows the upstream gateway's STOMP job notifications
// learns of its jobs' ends without polling: it polls only once an hour
// here (and, with the notifications live, only every twelve hours), yet
// each job is seen to end well within the wait's bound. The subscription
// survives a restart of the upstream, which forgets its sessions: the
// downstream's login is refused, it logs on again and subscribes again.
func TestNotifiedFollowing(t *testing.T) {
	up := startUpstream(t, "")
	live := &logWatch{text: "following upstream job completions over STOMP", seen: make(chan struct{}, 4)}
	down := startDownstreamLog(t, up.url(), nil, time.Hour, func(c *app.Config) {
		c.HMCFingerprint = up.fp
		c.HMCStompAddr = up.addrs.STOMP
	}, live)
	ctx := context.Background()
	g := down.grpc(t)
	live.next(t, "subscribing")

	run := func(what, op, id, target string) {
		t.Helper()
		job := g.start(t, ctx, "/api/logical-partitions/"+id+"/operations/"+op, target, "")
		up.clock.Advance(3 * time.Second)
		j := g.wait(t, withTarget(ctx, target), job)
		if j.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || j.GetJobStatusCode() != 200 {
			t.Fatalf("%s ended %v", what, j)
		}
	}
	run("activate", "activate", lp2ID, lp2)
	run("deactivate", "deactivate", lp2ID, lp2)

	up.restart(t)
	live.next(t, "subscribing after the upstream restarted")
	run("activate after the restart", "activate", lp2ID, lp2)
}
