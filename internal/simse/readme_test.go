package simse_test

import (
	"os"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
)

// TestReadmeInventory keeps the README's example of profiles and
// permissions true: it parses, and the SE does what the README says of it.
func TestReadmeInventory(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Logical partitions as an SE runs them")
	if !ok {
		t.Fatal("README has no section on profiles and permissions")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the section has no YAML example")
	}
	if _, err := simse.ParseInventory([]byte(block)); err != nil {
		t.Fatalf("the README's inventory: %v", err)
	}
	part := func(n string) jobs.Owner { return jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1." + n} }
	lp1, lp3 := part("LP1"), part("LP3")

	h := newHarness(t, block)
	run := func(owner jobs.Owner, target, uri, body string) jobs.Job {
		t.Helper()
		resp, err := h.se.Invoke(t.Context(), bcpiiRequest(owner, "IBM390PS.CPC1."+target, "POST", uri, body))
		if err != nil || resp.Status != 202 {
			t.Fatalf("POST %s: %v %v", uri, resp, err)
		}
		h.clock.Advance(simse.DefaultDuration)
		return h.ended(owner, strings.TrimPrefix(resp.JobURI, "/api/jobs/"))
	}
	run(lp1, "LP2", lparOp("lp2", "activate"), "")
	if s := h.status("/api/logical-partitions/lp2"); s != "not-operating" {
		t.Errorf("LP2 %s after activation", s)
	}
	run(lp1, "LP2", lparOp("lp2", "load"), "")
	if s := h.status("/api/logical-partitions/lp2"); s != "operating" {
		t.Errorf("LP2 %s after load", s)
	}
	run(lp1, "LP2", lparOp("lp2", "deactivate"), "")
	run(lp1, "LP2", lparOp("lp2", "activate"), `{"activation-profile-name":"ZOSLOAD"}`)
	if s := h.status("/api/logical-partitions/lp2"); s != "operating" {
		t.Errorf("LP2 %s after activation with ZOSLOAD", s)
	}
	for _, tt := range []struct {
		owner  jobs.Owner
		target string
	}{{lp1, "LP3"}, {lp3, "LP1"}, {lp3, "LP2"}} {
		_, err := h.se.Invoke(t.Context(), bcpiiRequest(tt.owner, "IBM390PS.CPC1."+tt.target, "GET", "/api/logical-partitions/"+strings.ToLower(tt.target), ""))
		checkHMCError(t, err, 403, 1)
	}
	if j := run(lp3, "LP3", lparOp("lp3", "load"), ""); j.StatusCode != 200 {
		t.Errorf("LP3 loading itself: %+v", j)
	}
}
