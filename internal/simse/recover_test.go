package simse_test

import (
	"context"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
)

// An SE started on a store that holds jobs an earlier SE left not ended (it
// died, and forgot them) ends each of them complete 503.1 before any
// operation of its own starts, and leaves ended jobs as they were.
func TestRunEndsJobsAnEarlierSELeft(t *testing.T) {
	h := newStoppedHarness(t, "")
	ctx := context.Background()
	running, _ := h.reg.Create(ctx, jobs.Spec{Owner: lp1, Operation: "POST /api/partitions/x/operations/start", Cancelable: true})
	pending, _ := h.reg.Create(ctx, jobs.Spec{Owner: alice, Cancelable: true})
	if _, err := h.reg.Cancel(ctx, jobs.Caller{Owner: alice}, pending.ID); err != nil {
		t.Fatal(err)
	}
	done, _ := h.reg.Create(ctx, jobs.Spec{Owner: lp1})
	if _, err := h.reg.Finish(ctx, done.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}

	// The same store, a new SE: as after a restart.
	se, err := simse.New(simse.Config{Registry: h.reg, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	h.se = se
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- se.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// An operation started now waits for the settling, and is not settled.
	mine := h.start(lp1, lparOp("732b5207-24d8-4994-81dc-c9f05bcd2917", "activate"), "")

	for _, c := range []struct {
		owner jobs.Owner
		id    string
	}{{lp1, running.ID}, {alice, pending.ID}} {
		checkEnded(t, h.ended(c.owner, c.id), jobs.Complete, 503, 1,
			`{"message":"The simulated Support Element restarted while the operation ran; its outcome is unknown."}`)
	}
	if j := h.job(lp1, done.ID); j.StatusCode != 200 {
		t.Errorf("an ended job was changed: %+v", j)
	}
	if j := h.job(lp1, mine); j.Status != jobs.Running {
		t.Errorf("the new SE's own job: %+v", j)
	}
}
