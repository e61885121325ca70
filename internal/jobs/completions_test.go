package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

func finish(t *testing.T, r *jobs.Registry, id string, code int) {
	t.Helper()
	if _, err := r.Finish(context.Background(), id, jobs.Result{Status: jobs.Complete, StatusCode: code}); err != nil {
		t.Fatal(err)
	}
}

func nextCompletion(t *testing.T, w *jobs.CompletionWatcher) jobs.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return j
}

func noCompletion(t *testing.T, w *jobs.CompletionWatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if j, err := w.Next(ctx); err == nil {
		t.Fatalf("unexpected completion of %s", j.ID)
	}
}

func TestCompletionsFromNowAndOwnOnly(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	old := create(t, r, alice, false)
	finish(t, r, old.ID, 200)
	running := create(t, r, alice, false)
	theirs := create(t, r, lp1, false)

	w, err := r.WatchCompletions(ctx, jobs.Caller{Owner: alice}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	noCompletion(t, w) // the job that ended before is not news
	finish(t, r, theirs.ID, 200)
	finish(t, r, running.ID, 409)
	got := nextCompletion(t, w)
	if got.ID != running.ID || got.StatusCode != 409 {
		t.Fatalf("completion %s %d, want %s", got.ID, got.StatusCode, running.ID)
	}
	noCompletion(t, w) // another owner's job never shows
}

// A client that reconnects with its cursor gets every completion it
// missed, in order, none twice.
func TestCompletionsResumeFromCursor(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	var ids []string
	for range 6 {
		ids = append(ids, create(t, r, alice, false).ID)
	}
	w, err := r.WatchCompletions(ctx, jobs.Caller{Owner: alice}, 0)
	if err != nil {
		t.Fatal(err)
	}
	finish(t, r, ids[0], 200)
	finish(t, r, ids[1], 200)
	if got := nextCompletion(t, w); got.ID != ids[0] {
		t.Fatalf("first completion %s, want %s", got.ID, ids[0])
	}
	cursor := w.Cursor()
	w.Close() // the client goes away with ids[1] unread

	finish(t, r, ids[2], 200)
	finish(t, r, ids[3], 200)
	w2, err := r.WatchCompletions(ctx, jobs.Caller{Owner: alice}, cursor)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	finish(t, r, ids[4], 200)
	for _, want := range ids[1:5] {
		if got := nextCompletion(t, w2); got.ID != want {
			t.Fatalf("resumed completion %s, want %s", got.ID, want)
		}
	}
	noCompletion(t, w2)
	finish(t, r, ids[5], 200)
	if got := nextCompletion(t, w2); got.ID != ids[5] {
		t.Fatalf("live completion %s, want %s", got.ID, ids[5])
	}
}

// A reader that falls far behind loses nothing: its watcher drops what it
// holds and reads the store again.
func TestCompletionsSlowReaderOverflow(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	const n = 700
	var ids []string
	for range n {
		ids = append(ids, create(t, r, alice, false).ID)
	}
	w, err := r.WatchCompletions(ctx, jobs.Caller{Owner: alice}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, id := range ids {
		finish(t, r, id, 200)
	}
	seen := map[string]bool{}
	last := int64(0)
	for i := range n {
		j := nextCompletion(t, w)
		if seen[j.ID] || j.Revision <= last {
			t.Fatalf("completion %d: %s repeated or out of order", i, j.ID)
		}
		seen[j.ID], last = true, j.Revision
	}
	noCompletion(t, w)
}
