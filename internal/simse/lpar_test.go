package simse_test

import (
	"strings"
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

// TestBCPiiListOrigin: over BCPii, List CPCs says which CPC is the
// requester's (location local, the others remote) and List Logical
// Partitions which LPAR is the requester (request-origin), as HWIREST
// answers them; an API user's lists carry neither.
func TestBCPiiListOrigin(t *testing.T) {
	h := newHarness(t, "")
	get := func(owner jobs.Owner, uri string) string {
		t.Helper()
		resp, err := h.se.Invoke(t.Context(), bcpiiRequest(owner, "IBM390PS.CPC1", "GET", uri, ""))
		if err != nil {
			t.Fatalf("GET %s: %v", uri, err)
		}
		return string(resp.Body)
	}
	lp3 := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP3"}
	cpcs := get(lp3, "/api/cpcs")
	if !strings.Contains(cpcs, `"location":"local","name":"CPC1"`) || !strings.Contains(cpcs, `"location":"remote","name":"CPC2"`) {
		t.Errorf("List CPCs as LP3: %s", cpcs)
	}
	lpars := get(lp3, "/api/cpcs/"+cpc1+"/logical-partitions?name=LP[13]")
	if !strings.Contains(lpars, `"name":"LP1","object-uri":"/api/logical-partitions/`+lpar1+`","request-origin":false`) ||
		!strings.Contains(lpars, `"name":"LP3","object-uri":"/api/logical-partitions/`+lpar3+`","request-origin":true`) {
		t.Errorf("List Logical Partitions as LP3: %s", lpars)
	}
	resp, err := h.invoke(alice, "GET", "/api/cpcs/"+cpc1+"/logical-partitions", "")
	if err != nil || strings.Contains(string(resp.Body), "request-origin") {
		t.Errorf("an API user's list: %s %v", resp.Body, err)
	}
	if resp, err = h.invoke(alice, "GET", "/api/cpcs", ""); err != nil || strings.Contains(string(resp.Body), "location") {
		t.Errorf("an API user's List CPCs: %s %v", resp.Body, err)
	}
}

// TestResetExceptions: the HMC's Reset Normal and Reset Clear need force
// for an LPAR in exceptions, as for an operating one.
func TestResetExceptions(t *testing.T) {
	const inv = `
cpcs:
  - name: C1
    object-id: c1
    target-name: NET.C1
    status: operating
    logical-partitions:
      - {name: X1, object-id: x1, status: exceptions}
`
	for _, op := range []string{"reset-normal", "reset-clear"} {
		h := newHarness(t, inv)
		id := h.start(alice, lparOp("x1", op), "{}")
		h.clock.Advance(simse.DefaultDuration)
		checkEnded(t, h.ended(alice, id), jobs.Complete, 409, 1, `{"message":"The logical partition X1 has status exceptions; resetting it needs force."}`)
		id = h.start(alice, lparOp("x1", op), `{"force":true}`)
		h.clock.Advance(simse.DefaultDuration)
		if j := h.ended(alice, id); j.StatusCode != 200 {
			t.Errorf("%s with force: %+v", op, j)
		}
		if s := h.status("/api/logical-partitions/x1"); s != "not-operating" {
			t.Errorf("X1 %s after %s with force", s, op)
		}
	}
}
