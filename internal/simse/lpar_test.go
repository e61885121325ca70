package simse_test

import (
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
)

// applianceCPC has an LPAR whose image profile runs it in ssc mode, so
// that activating it loads it (as zhmcclient's Lpar.activate expects).
const applianceCPC = `
cpcs:
  - name: C1
    object-id: c1
    target-name: NET.C1
    status: operating
    logical-partitions:
      - {name: SSC1, object-id: s1, status: not-activated}
    image-activation-profiles:
      - {name: SSC1, operating-mode: ssc}
`

// TestStopStartAppliance: the HMC's Stop and Start Logical Partition are
// not permitted for an LPAR in ssc or zaware mode.
func TestStopStartAppliance(t *testing.T) {
	h := newHarness(t, applianceCPC)
	run := func(op string) jobs.Job {
		t.Helper()
		id := h.start(alice, lparOp("s1", op), "")
		h.clock.Advance(simse.DefaultDuration)
		return h.ended(alice, id)
	}
	checkEnded(t, run("activate"), jobs.Complete, 200, 0, `{"message":"Logical partition SSC1 activated."}`)
	for _, op := range []string{"stop", "start"} {
		checkEnded(t, run(op), jobs.Complete, 409, 1, `{"message":"The logical partition SSC1 runs in ssc mode, which does not permit `+op+`."}`)
	}
	if s := h.status("/api/logical-partitions/s1"); s != "operating" {
		t.Errorf("SSC1 %s after refused stop and start", s)
	}
}
