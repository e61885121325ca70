package simse

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

func TestJournalFindsJobsLeftRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim-jobs")
	a, b, c := jobs.NewID(), jobs.NewID(), jobs.NewID()
	j, orphans, err := openJournal(path)
	if err != nil || len(orphans) != 0 {
		t.Fatalf("new journal: %v %v", orphans, err)
	}
	for _, step := range []struct {
		op byte
		id string
	}{{'+', a}, {'+', b}, {'-', a}, {'+', c}} {
		if err := j.record(step.op, step.id); err != nil {
			t.Fatal(err)
		}
	}
	j.close()
	// A crash may leave half a line behind.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("-" + c[:10])
	f.Close()

	_, orphans, err = openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(orphans)
	want := []string{b, c}
	slices.Sort(want)
	if !slices.Equal(orphans, want) {
		t.Fatalf("orphans %v, want %v", orphans, want)
	}
	// Opening again starts afresh: the orphans are the caller's to end.
	if _, again, _ := openJournal(path); len(again) != 0 {
		t.Fatalf("orphans reported twice: %v", again)
	}
}

func TestEndOrphans(t *testing.T) {
	reg, err := jobs.New(jobs.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	owner := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	left, _ := reg.Create(ctx, jobs.Spec{Owner: owner})
	ended, _ := reg.Create(ctx, jobs.Spec{Owner: owner})
	if _, err := reg.Finish(ctx, ended.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	n, err := endOrphans(ctx, reg, []string{left.ID, ended.ID, jobs.NewID()})
	if err != nil || n != 1 {
		t.Fatalf("endOrphans: %d %v", n, err)
	}
	got, err := reg.Get(ctx, jobs.Caller{Owner: owner}, left.ID)
	if err != nil || got.Status != jobs.Complete || got.StatusCode != 503 || got.ReasonCode != 1 || len(got.Results) == 0 {
		t.Fatalf("orphan ended as %+v %v", got, err)
	}
	if got, _ := reg.Get(ctx, jobs.Caller{Owner: owner}, ended.ID); got.StatusCode != 200 {
		t.Fatalf("an ended job was changed: %+v", got)
	}
}
