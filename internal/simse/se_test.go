package simse_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/bcpiitest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	epoch = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	alice = jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	lp1   = jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
)

type harness struct {
	t     *testing.T
	se    *simse.SE
	reg   *jobs.Registry
	store *memstore.Store
	clock *clocktest.Fake
	stop  func() // stops Run and waits for it
}

// newHarness runs an SE over the inventory (the built-in one if empty)
// with a real registry on a memory store and a fake clock.
func newHarness(t *testing.T, inventory string) *harness {
	t.Helper()
	h := newStoppedHarness(t, inventory)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.se.Run(ctx) }()
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(h.stop)
	return h
}

// newStoppedHarness is newHarness without Run.
func newStoppedHarness(t *testing.T, inventory string) *harness {
	t.Helper()
	fc := clocktest.NewFake(epoch)
	st := memstore.New()
	reg, err := jobs.New(jobs.Config{Store: st, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	var inv *simse.Inventory
	if inventory != "" {
		if inv, err = simse.ParseInventory([]byte(inventory)); err != nil {
			t.Fatal(err)
		}
	}
	se, err := simse.New(simse.Config{Inventory: inv, Registry: reg, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, se: se, reg: reg, store: st, clock: fc, stop: func() {}}
}

func (h *harness) invoke(owner jobs.Owner, method, uri, body string) (bcpii.OperationResponse, error) {
	return h.se.Invoke(context.Background(), bcpii.OperationRequest{Principal: principal(owner), Target: targetOf(owner.Name), Method: method, URI: uri, Body: []byte(body)})
}

// start invokes an operation that must be accepted and returns its job id.
func (h *harness) start(owner jobs.Owner, uri, body string) string {
	h.t.Helper()
	resp, err := h.invoke(owner, "POST", uri, body)
	if err != nil {
		h.t.Fatalf("POST %s: %v", uri, err)
	}
	id, ok := strings.CutPrefix(resp.JobURI, "/api/jobs/")
	if resp.Status != 202 || !ok || !jobs.ValidID(id) {
		h.t.Fatalf("POST %s = %+v", uri, resp)
	}
	if want := `{"job-uri":"/api/jobs/` + id + `"}`; string(resp.Body) != want {
		h.t.Fatalf("POST %s body %s, want %s", uri, resp.Body, want)
	}
	return id
}

func (h *harness) job(owner jobs.Owner, id string) jobs.Job {
	h.t.Helper()
	j, err := h.reg.Get(context.Background(), jobs.Caller{Owner: owner}, id)
	if err != nil {
		h.t.Fatalf("job %s: %v", id, err)
	}
	return j
}

// ended waits, without moving the clock, until the job has ended.
func (h *harness) ended(owner jobs.Owner, id string) jobs.Job {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := h.reg.Watch(ctx, jobs.Caller{Owner: owner}, id)
	if err != nil {
		h.t.Fatal(err)
	}
	defer w.Close()
	var last jobs.Job
	for {
		j, err := w.Next(ctx)
		if errors.Is(err, io.EOF) {
			return last
		}
		if err != nil {
			h.t.Fatalf("job %s never ended (last %+v): %v", id, last, err)
		}
		last = j
	}
}

// status is the status property of the object at uri.
func (h *harness) status(uri string) string {
	h.t.Helper()
	resp, err := h.invoke(alice, "GET", uri, "")
	if err != nil {
		h.t.Fatalf("GET %s: %v", uri, err)
	}
	var p struct{ Status string }
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		h.t.Fatal(err)
	}
	return p.Status
}

func checkEnded(t *testing.T, j jobs.Job, status jobs.Status, code, reason int, results string) {
	t.Helper()
	if j.Status != status || j.StatusCode != code || j.ReasonCode != reason || string(j.Results) != results {
		t.Errorf("job ended %s %d.%d %s; want %s %d.%d %s", j.Status, j.StatusCode, j.ReasonCode, j.Results, status, code, reason, results)
	}
}

func checkHMCError(t *testing.T, err error, status, reason int) {
	t.Helper()
	var e *hmcerr.Error
	if !errors.As(err, &e) || e.HTTPStatus != status || e.Reason != reason {
		t.Errorf("error %v; want %d.%d", err, status, reason)
	}
}

func lparOp(id, op string) string { return "/api/logical-partitions/" + id + "/operations/" + op }
func partOp(id, op string) string { return "/api/partitions/" + id + "/operations/" + op }

// shapes produces every job shape of the contract.
const shapes = `
cpcs:
  - name: T1
    object-id: t1
    target-name: TESTNET.T1
    status: operating
    logical-partitions:
      - name: RESULTS
        object-id: lpar-results
        status: not-activated
        operations:
          activate:
            duration: 5s
            job-results: {message: "Activated.", big: 12345678901234567890, pi: 3.14159265358979323846264338327950288}
      - name: FAILS
        object-id: lpar-fails
        status: not-activated
        operations:
          activate:
            status-code: 500
            reason-code: 263
            job-results: {message: "The image profile is not valid."}
      - name: QUIET
        object-id: lpar-quiet
        status: not-operating
        last-used-load-address: 0100
        operations:
          load: {status-code: 204}
  - name: T2
    object-id: t2
    target-name: TESTNET.T2
    dpm-enabled: true
    status: operating
    partitions:
      - name: SLOW
        object-id: part-slow
        status: stopped
        operations:
          start: {duration: 1m, cancel-duration: 2s}
      - name: P2
        object-id: part-2
        status: active
`

func TestJobShapes(t *testing.T) {
	t.Run("running then complete 200 with results", func(t *testing.T) {
		h := newHarness(t, shapes)
		id := h.start(lp1, lparOp("lpar-results", "activate"), "")
		j := h.job(lp1, id)
		if j.Status != jobs.Running || j.HasStatusCode() || j.Target != lp1.Name || j.Cancelable ||
			j.Operation != "POST "+lparOp("lpar-results", "activate") {
			t.Fatalf("started job %+v", j)
		}
		h.clock.Advance(5*time.Second - time.Nanosecond)
		if j := h.job(lp1, id); j.Status != jobs.Running {
			t.Fatalf("job %s before its duration passed", j.Status)
		}
		h.clock.Advance(time.Nanosecond)
		checkEnded(t, h.ended(lp1, id), jobs.Complete, 200, 0,
			`{"message":"Activated.","big":12345678901234567890,"pi":3.14159265358979323846264338327950288}`)
		// Its image profile does not load at activation.
		if s := h.status("/api/logical-partitions/lpar-results"); s != "not-operating" {
			t.Errorf("LPAR %s after activation", s)
		}
	})
	t.Run("complete with error code and reason", func(t *testing.T) {
		h := newHarness(t, shapes)
		id := h.start(alice, lparOp("lpar-fails", "activate"), "")
		h.clock.Advance(simse.DefaultDuration)
		checkEnded(t, h.ended(alice, id), jobs.Complete, 500, 263, `{"message":"The image profile is not valid."}`)
		if s := h.status("/api/logical-partitions/lpar-fails"); s != "not-activated" {
			t.Errorf("LPAR %s after a failed activation", s)
		}
	})
	t.Run("complete 204", func(t *testing.T) {
		h := newHarness(t, shapes)
		id := h.start(alice, lparOp("lpar-quiet", "load"), "")
		h.clock.Advance(simse.DefaultDuration)
		checkEnded(t, h.ended(alice, id), jobs.Complete, 204, 0, "")
		if s := h.status("/api/logical-partitions/lpar-quiet"); s != "operating" {
			t.Errorf("LPAR %s after load", s)
		}
	})
	t.Run("cancel-pending then canceled", func(t *testing.T) {
		h := newHarness(t, shapes)
		uri := "/api/partitions/part-slow"
		id := h.start(lp1, partOp("part-slow", "start"), "")
		if s := h.status(uri); s != "starting" {
			t.Errorf("partition %s while starting", s)
		}
		h.clock.Advance(30 * time.Second)
		j, err := h.reg.Cancel(context.Background(), jobs.Caller{Owner: lp1}, id)
		if err != nil || j.Status != jobs.CancelPending {
			t.Fatalf("Cancel = %+v, %v", j, err)
		}
		// The operation's timer and the cancel's: the SE has seen the cancel.
		if !h.clock.WaitForTimers(2, t.Context().Done()) {
			t.Fatal("no cancel timer")
		}
		if j := h.job(lp1, id); j.Status != jobs.CancelPending || j.HasStatusCode() {
			t.Fatalf("job %+v during the cancel", j)
		}
		h.clock.Advance(2 * time.Second)
		checkEnded(t, h.ended(lp1, id), jobs.Canceled, 409, 0, `{"message":"The operation was canceled; the partition SLOW was left as it was."}`)
		if s := h.status(uri); s != "stopped" {
			t.Errorf("partition %s after a canceled start", s)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		h := newHarness(t, shapes)
		id := h.start(alice, partOp("part-2", "stop"), "")
		if s := h.status("/api/partitions/part-2"); s != "stopping" {
			t.Errorf("partition %s while stopping", s)
		}
		if _, err := h.reg.Cancel(context.Background(), jobs.Caller{Owner: alice}, id); err != nil {
			t.Fatal(err)
		}
		checkEnded(t, h.ended(alice, id), jobs.Canceled, 409, 0, `{"message":"The operation was canceled; the partition P2 was left as it was."}`)
		if s := h.status("/api/partitions/part-2"); s != "active" {
			t.Errorf("partition %s after a canceled stop", s)
		}
		// The object is free again.
		id = h.start(alice, partOp("part-2", "stop"), "")
		h.clock.Advance(simse.DefaultDuration)
		checkEnded(t, h.ended(alice, id), jobs.Complete, 204, 0, "")
		if s := h.status("/api/partitions/part-2"); s != "stopped" {
			t.Errorf("partition %s after stop", s)
		}
	})
}

// The state rules of the built-in inventory: each operation from the
// initial state, its outcome, and the object's status afterwards.
func TestStateRules(t *testing.T) {
	const cpc2URI = "/api/cpcs/" + cpc2
	tests := []struct {
		name, uri, body string
		code, reason    int
		results         string
		object          string // whose status to check afterwards
		status          string
	}{
		{"activate not-activated LPAR", lparOp(lpar2, "activate"), "", 200, 0, `{"message":"Logical partition LP2 activated."}`, "/api/logical-partitions/" + lpar2, "not-operating"},
		{"activate with a load profile", lparOp(lpar2, "activate"), `{"activation-profile-name":"zosload"}`, 200, 0, `{"message":"Logical partition LP2 activated."}`, "/api/logical-partitions/" + lpar2, "operating"},
		{"activate operating LPAR", lparOp(lpar1, "activate"), "", 409, 1, `{"message":"The logical partition LP1 has status operating; activating it again needs force."}`, "/api/logical-partitions/" + lpar1, "operating"},
		{"activate operating LPAR with force", lparOp(lpar1, "activate"), `{"force":true,"activation-profile-name":"LP1"}`, 200, 0, `{"message":"Logical partition LP1 activated."}`, "/api/logical-partitions/" + lpar1, "operating"},
		{"activate not-operating LPAR", lparOp(lpar3, "activate"), "{}", 200, 0, `{"message":"Logical partition LP3 activated."}`, "/api/logical-partitions/" + lpar3, "not-operating"},
		// The HMC accepts a profile name it cannot use, and the activation
		// fails 500.263.
		{"activate with another LPAR's image profile", lparOp(lpar2, "activate"), `{"activation-profile-name":"LP1"}`, 500, 263,
			`{"message":"The image activation profile LP1 is not named after logical partition LP2; it activates logical partition LP1 only."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"activate with an unknown profile", lparOp(lpar2, "activate"), `{"activation-profile-name":"NOPE"}`, 500, 263,
			`{"message":"No image or load activation profile of the CPC is named \"NOPE\"."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"stop operating LPAR", lparOp(lpar1, "stop"), "", 200, 0, `{"message":"Logical partition LP1 stopped."}`, "/api/logical-partitions/" + lpar1, "not-operating"},
		{"stop not-operating LPAR", lparOp(lpar3, "stop"), "", 200, 0, `{"message":"Logical partition LP3 stopped."}`, "/api/logical-partitions/" + lpar3, "not-operating"},
		{"stop not-activated LPAR", lparOp(lpar2, "stop"), "", 409, 1, `{"message":"The logical partition LP2 has status not-activated."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"start not-operating LPAR", lparOp(lpar3, "start"), "", 200, 0, `{"message":"Logical partition LP3 started."}`, "/api/logical-partitions/" + lpar3, "operating"},
		{"start operating LPAR", lparOp(lpar1, "start"), "", 200, 0, `{"message":"Logical partition LP1 started."}`, "/api/logical-partitions/" + lpar1, "operating"},
		{"start not-activated LPAR", lparOp(lpar2, "start"), "", 409, 1, `{"message":"The logical partition LP2 has status not-activated."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"reset-normal operating LPAR", lparOp(lpar1, "reset-normal"), "", 409, 1, `{"message":"The logical partition LP1 has status operating; resetting it needs force."}`, "/api/logical-partitions/" + lpar1, "operating"},
		{"reset-normal operating LPAR with force", lparOp(lpar1, "reset-normal"), `{"force":true}`, 200, 0, `{"message":"Logical partition LP1 reset."}`, "/api/logical-partitions/" + lpar1, "not-operating"},
		{"reset-clear not-operating LPAR", lparOp(lpar3, "reset-clear"), "", 200, 0, `{"message":"Logical partition LP3 reset and cleared."}`, "/api/logical-partitions/" + lpar3, "not-operating"},
		{"reset-clear not-activated LPAR", lparOp(lpar2, "reset-clear"), `{"force":true}`, 409, 1, `{"message":"The logical partition LP2 has status not-activated."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"psw-restart not-operating LPAR", lparOp(lpar3, "psw-restart"), "", 200, 0, `{"message":"Logical partition LP3 restarted."}`, "/api/logical-partitions/" + lpar3, "operating"},
		{"psw-restart not-activated LPAR", lparOp(lpar2, "psw-restart"), "", 409, 1, `{"message":"The logical partition LP2 has status not-activated."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"deactivate operating LPAR", lparOp(lpar1, "deactivate"), "", 409, 1, `{"message":"The logical partition LP1 has status operating; deactivating it needs force."}`, "/api/logical-partitions/" + lpar1, "operating"},
		{"deactivate operating LPAR with force", lparOp(lpar1, "deactivate"), `{"force":true}`, 200, 0, `{"message":"Logical partition LP1 deactivated."}`, "/api/logical-partitions/" + lpar1, "not-activated"},
		{"deactivate not-operating LPAR", lparOp(lpar3, "deactivate"), "", 200, 0, `{"message":"Logical partition LP3 deactivated."}`, "/api/logical-partitions/" + lpar3, "not-activated"},
		{"deactivate not-activated LPAR", lparOp(lpar2, "deactivate"), `{"force":true}`, 409, 1, `{"message":"The logical partition LP2 has status not-activated."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"load not-operating LPAR", lparOp(lpar3, "load"), `{"load-address":"0A100","load-parameter":"","clear-indicator":true,"load-type":"ipltype"}`, 200, 0, `{"message":"Logical partition LP3 loaded."}`, "/api/logical-partitions/" + lpar3, "operating"},
		{"load not-activated LPAR", lparOp(lpar2, "load"), "", 409, 1, `{"message":"The logical partition LP2 has status not-activated."}`, "/api/logical-partitions/" + lpar2, "not-activated"},
		{"load operating LPAR", lparOp(lpar1, "load"), `{"force":false}`, 409, 1, `{"message":"The logical partition LP1 has status operating; loading it again needs force."}`, "/api/logical-partitions/" + lpar1, "operating"},
		{"load operating LPAR with force", lparOp(lpar1, "load"), `{"force":true}`, 200, 0, `{"message":"Logical partition LP1 loaded."}`, "/api/logical-partitions/" + lpar1, "operating"},
		{"start stopped partition", partOp(part1, "start"), "", 204, 0, "", "/api/partitions/" + part1, "active"},
		{"start active partition", partOp(part2, "start"), "", 409, 1, `{"message":"The partition PART2 has status active."}`, "/api/partitions/" + part2, "active"},
		{"stop active partition", partOp(part2, "stop"), "", 204, 0, "", "/api/partitions/" + part2, "stopped"},
		{"stop stopped partition", partOp(part1, "stop"), "", 409, 1, `{"message":"The partition PART1 has status stopped."}`, "/api/partitions/" + part1, "stopped"},
		{"start operating CPC", cpc2URI + "/operations/start", "", 409, 1, `{"message":"The CPC CPC2 has status operating."}`, cpc2URI, "operating"},
		{"stop operating CPC", cpc2URI + "/operations/stop", "", 204, 0, "", cpc2URI, "not-operating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			id := h.start(lp1, tt.uri, tt.body)
			h.clock.Advance(simse.DefaultDuration)
			checkEnded(t, h.ended(lp1, id), jobs.Complete, tt.code, tt.reason, tt.results)
			if s := h.status(tt.object); s != tt.status {
				t.Errorf("%s has status %s, want %s", tt.object, s, tt.status)
			}
		})
	}
}

func TestCPCStopAndStart(t *testing.T) {
	h := newHarness(t, "")
	cpc := "/api/cpcs/" + cpc2
	id := h.start(alice, cpc+"/operations/stop", "")
	h.clock.Advance(simse.DefaultDuration)
	checkEnded(t, h.ended(alice, id), jobs.Complete, 204, 0, "")
	for _, p := range []string{part1, part2} {
		if s := h.status("/api/partitions/" + p); s != "stopped" {
			t.Errorf("partition %s after CPC stop", s)
		}
	}
	// A partition of a stopped CPC cannot start.
	id = h.start(alice, partOp(part1, "start"), "")
	h.clock.Advance(simse.DefaultDuration)
	checkEnded(t, h.ended(alice, id), jobs.Complete, 409, 1, `{"message":"The CPC CPC2 has status not-operating."}`)

	id = h.start(alice, cpc+"/operations/start", "")
	h.clock.Advance(simse.DefaultDuration)
	checkEnded(t, h.ended(alice, id), jobs.Complete, 204, 0, "")
	if s := h.status(cpc); s != "operating" {
		t.Errorf("CPC %s after start", s)
	}
}

func TestCancelability(t *testing.T) {
	h := newHarness(t, "")
	ctx := context.Background()
	for _, tt := range []struct {
		uri        string
		cancelable bool
	}{
		{lparOp(lpar2, "activate"), false},
		{lparOp(lpar1, "deactivate"), false},
		{lparOp(lpar3, "load"), false},
		{partOp(part1, "start"), true},
		{partOp(part2, "stop"), true},
	} {
		id := h.start(alice, tt.uri, "")
		if j := h.job(alice, id); j.Cancelable != tt.cancelable {
			t.Errorf("%s: cancelable %v, want %v", tt.uri, j.Cancelable, tt.cancelable)
		}
		if !tt.cancelable {
			_, err := h.reg.Cancel(ctx, jobs.Caller{Owner: alice}, id)
			checkHMCError(t, err, 404, 4)
		}
	}
	h = newHarness(t, "")
	id := h.start(alice, "/api/cpcs/"+cpc2+"/operations/stop", "")
	_, err := h.reg.Cancel(ctx, jobs.Caller{Owner: alice}, id)
	checkHMCError(t, err, 404, 4)
}

func TestCancelableOverride(t *testing.T) {
	h := newHarness(t, `
cpcs:
  - name: C
    object-id: c
    target-name: N.C
    status: operating
    logical-partitions:
      - name: L
        object-id: l
        status: not-activated
        operations:
          activate: {cancelable: true, duration: 10s}
    `)
	id := h.start(alice, lparOp("l", "activate"), "")
	if _, err := h.reg.Cancel(context.Background(), jobs.Caller{Owner: alice}, id); err != nil {
		t.Fatal(err)
	}
	checkEnded(t, h.ended(alice, id), jobs.Canceled, 409, 0, `{"message":"The operation was canceled; the logical partition L was left as it was."}`)
	if s := h.status("/api/logical-partitions/l"); s != "not-activated" {
		t.Errorf("LPAR %s after a canceled activation", s)
	}
}

func TestBusy(t *testing.T) {
	h := newHarness(t, "")
	id := h.start(alice, lparOp(lpar2, "activate"), "")
	_, err := h.invoke(lp1, "POST", lparOp(lpar2, "deactivate"), "")
	checkHMCError(t, err, 409, 2)
	// Another LPAR is free.
	other := h.start(alice, lparOp(lpar3, "load"), "")

	// A CPC and its partitions exclude each other.
	pid := h.start(alice, partOp(part1, "start"), "")
	_, err = h.invoke(alice, "POST", "/api/cpcs/"+cpc2+"/operations/stop", "")
	checkHMCError(t, err, 409, 2)

	h.clock.Advance(simse.DefaultDuration)
	for _, id := range []string{id, other, pid} {
		if j := h.ended(alice, id); j.Status != jobs.Complete {
			t.Errorf("job %+v", j)
		}
	}
	cid := h.start(alice, "/api/cpcs/"+cpc2+"/operations/stop", "")
	_, err = h.invoke(alice, "POST", partOp(part2, "stop"), "")
	checkHMCError(t, err, 409, 2)
	h.clock.Advance(simse.DefaultDuration)
	h.ended(alice, cid)
	h.start(alice, lparOp(lpar2, "deactivate"), "")
}

func TestSynchronousErrors(t *testing.T) {
	h := newHarness(t, "")
	activate := lparOp(lpar2, "activate")
	tests := []struct {
		name, method, uri, body string
		status, reason          int
	}{
		{"unknown path", "GET", "/api/consoles", "", 404, 1},
		{"not under /api", "GET", "/cpcs", "", 404, 1},
		{"trailing slash", "GET", "/api/cpcs/", "", 404, 1},
		{"empty segment", "GET", "/api/cpcs//partitions", "", 404, 1},
		{"unknown operation", "POST", lparOp(lpar2, "ipl"), "", 404, 1},
		{"load address not a device", "POST", lparOp(lpar3, "load"), `{"load-address":"0x100"}`, 400, 7},
		{"unknown property", "GET", "/api/logical-partitions/" + lpar1 + "?properties=status,nope", "", 400, 14},
		{"empty property", "GET", "/api/cpcs/" + cpc1 + "?properties=", "", 400, 14},
		{"cached-acceptable not boolean", "GET", "/api/cpcs/" + cpc1 + "?cached-acceptable=yes", "", 400, 1},
		{"status filter not a status", "GET", "/api/cpcs/" + cpc2 + "/partitions?status=running", "", 400, 1},
		{"type filter not a type", "GET", "/api/cpcs/" + cpc2 + "/partitions?type=zos", "", 400, 1},
		{"status filter on LPARs", "GET", "/api/cpcs/" + cpc1 + "/logical-partitions?status=operating", "", 400, 1},
		{"unknown profile properties", "GET", "/api/cpcs/" + cpc1 + "/image-activation-profiles/NOPE", "", 404, 1},
		{"profile name as another case", "GET", "/api/cpcs/" + cpc1 + "/image-activation-profiles/lp1", "", 404, 1},
		{"profiles of an unknown CPC", "GET", "/api/cpcs/nope/load-activation-profiles", "", 404, 1},
		{"additional property profiles lack", "GET", "/api/cpcs/" + cpc1 + "/image-activation-profiles?additional-properties=nope", "", 400, 14},
		{"additional properties of load profiles", "GET", "/api/cpcs/" + cpc1 + "/load-activation-profiles?additional-properties=name", "", 400, 1},
		// The HMC's List Logical Partitions of CPC answers 404.1 when the
		// name filter, matched case-sensitively, matches none.
		{"LPAR name filter matching none", "GET", "/api/cpcs/" + cpc1 + "/logical-partitions?name=lp1", "", 404, 1},
		{"LPAR name filter on a DPM CPC", "GET", "/api/cpcs/" + cpc2 + "/logical-partitions?name=LP.*", "", 404, 1},
		{"metrics context without a body", "POST", "/api/services/metrics/context", "", 400, 3},
		{"metrics context without frequency", "POST", "/api/services/metrics/context", `{"metric-groups":[]}`, 400, 5},
		{"unknown sub-resource", "GET", "/api/cpcs/" + cpc1 + "/storage-groups", "", 404, 1},
		{"partitions list under an LPAR", "GET", "/api/logical-partitions/" + lpar1 + "/partitions", "", 404, 1},
		{"List LPARs without CPC", "GET", "/api/logical-partitions", "", 404, 1},
		{"unknown path before method", "DELETE", "/api/nothing", "", 404, 1},
		{"DELETE cpcs", "DELETE", "/api/cpcs", "", 405, 0},
		{"POST list", "POST", "/api/cpcs", "", 405, 0},
		{"GET operation", "GET", activate, "", 405, 0},
		{"lower-case method", "post", activate, "", 405, 0},
		{"method before object", "PUT", "/api/logical-partitions/nope", "", 405, 0},
		{"unknown query parameter", "GET", "/api/cpcs?status=operating", "", 400, 1},
		{"query on properties", "GET", "/api/cpcs/" + cpc1 + "?name=CPC1", "", 400, 1},
		{"malformed query", "GET", "/api/cpcs?name=%zz", "", 400, 1},
		{"bad regular expression", "GET", "/api/cpcs?name=(", "", 400, 1},
		{"query on operation", "POST", activate + "?force=true", "", 400, 1},
		{"query before object", "GET", "/api/cpcs/nope?x=1", "", 400, 1},
		{"body on GET", "GET", "/api/cpcs", "{}", 400, 4},
		{"body not JSON", "POST", activate, "{", 400, 7},
		{"body not an object", "POST", activate, "[]", 400, 7},
		{"body a string", "POST", activate, `"force"`, 400, 7},
		{"force not boolean", "POST", activate, `{"force":"yes"}`, 400, 7},
		{"force null", "POST", activate, `{"force":null}`, 400, 7},
		{"profile not string", "POST", activate, `{"activation-profile-name":1}`, 400, 7},
		{"body before object", "POST", lparOp("nope", "activate"), "{", 400, 7},
		{"unknown LPAR", "POST", lparOp("nope", "activate"), "", 404, 1},
		{"unknown CPC", "GET", "/api/cpcs/nope", "", 404, 1},
		{"unknown CPC list", "GET", "/api/cpcs/nope/logical-partitions", "", 404, 1},
		{"id of another kind", "GET", "/api/logical-partitions/" + part1, "", 404, 1},
		{"operation on id of another kind", "POST", partOp(lpar1, "start"), "", 404, 1},
		{"CPC start in classic mode", "POST", "/api/cpcs/" + cpc1 + "/operations/start", "", 409, 5},
		{"CPC stop in classic mode", "POST", "/api/cpcs/" + cpc1 + "/operations/stop", "", 409, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.invoke(alice, tt.method, tt.uri, tt.body)
			if err == nil {
				t.Fatalf("%s %s = %+v; want %d.%d", tt.method, tt.uri, resp, tt.status, tt.reason)
			}
			checkHMCError(t, err, tt.status, tt.reason)
		})
	}
	// None of them started a job.
	page, _, err := h.reg.List(context.Background(), jobs.Caller{Owner: alice}, jobs.ListOptions{Limit: 10})
	if err != nil || len(page) != 0 {
		t.Errorf("jobs after refused requests: %v, %v", page, err)
	}
}

func TestQueries(t *testing.T) {
	h := newHarness(t, "")
	tests := []struct{ uri, want string }{
		{"/api/cpcs", `{"cpcs":[` +
			`{"dpm-enabled":false,"has-unacceptable-status":false,"name":"CPC1","object-uri":"/api/cpcs/` + cpc1 + `","se-version":"2.16.0","status":"operating","target-name":"IBM390PS.CPC1"},` +
			`{"dpm-enabled":true,"has-unacceptable-status":false,"name":"CPC2","object-uri":"/api/cpcs/` + cpc2 + `","se-version":"2.16.0","status":"operating","target-name":"IBM390PS.CPC2"}]}`},
		{"/api/cpcs?name=CPC2", `{"cpcs":[{"dpm-enabled":true,"has-unacceptable-status":false,"name":"CPC2","object-uri":"/api/cpcs/` + cpc2 + `","se-version":"2.16.0","status":"operating","target-name":"IBM390PS.CPC2"}]}`},
		{"/api/cpcs?name=CPC", `{"cpcs":[]}`},
		{"/api/cpcs?name=CPC1&name=C.*2", `{"cpcs":[` +
			`{"dpm-enabled":false,"has-unacceptable-status":false,"name":"CPC1","object-uri":"/api/cpcs/` + cpc1 + `","se-version":"2.16.0","status":"operating","target-name":"IBM390PS.CPC1"},` +
			`{"dpm-enabled":true,"has-unacceptable-status":false,"name":"CPC2","object-uri":"/api/cpcs/` + cpc2 + `","se-version":"2.16.0","status":"operating","target-name":"IBM390PS.CPC2"}]}`},
		{"/api/cpcs/" + cpc1 + "?properties=class,dpm-enabled,name,object-id,object-uri,status,target-name", `{"class":"cpc","dpm-enabled":false,"name":"CPC1","object-id":"` + cpc1 + `","object-uri":"/api/cpcs/` + cpc1 + `","status":"operating","target-name":"IBM390PS.CPC1"}`},
		{"/api/cpcs/" + cpc1 + "/logical-partitions", `{"logical-partitions":[` +
			`{"name":"LP1","object-uri":"/api/logical-partitions/` + lpar1 + `","status":"operating","target-name":"IBM390PS.CPC1.LP1"},` +
			`{"name":"LP2","object-uri":"/api/logical-partitions/` + lpar2 + `","status":"not-activated","target-name":"IBM390PS.CPC1.LP2"},` +
			`{"name":"LP3","object-uri":"/api/logical-partitions/` + lpar3 + `","status":"not-operating","target-name":"IBM390PS.CPC1.LP3"}]}`},
		{"/api/cpcs/" + cpc1 + "/logical-partitions?name=LP[23]", `{"logical-partitions":[` +
			`{"name":"LP2","object-uri":"/api/logical-partitions/` + lpar2 + `","status":"not-activated","target-name":"IBM390PS.CPC1.LP2"},` +
			`{"name":"LP3","object-uri":"/api/logical-partitions/` + lpar3 + `","status":"not-operating","target-name":"IBM390PS.CPC1.LP3"}]}`},
		{"/api/cpcs/" + cpc1 + "/partitions", `{"partitions":[]}`},
		{"/api/cpcs/" + cpc2 + "/logical-partitions", `{"logical-partitions":[]}`},
		{"/api/cpcs/" + cpc2 + "/partitions", `{"partitions":[` +
			`{"name":"PART1","object-uri":"/api/partitions/` + part1 + `","status":"stopped","target-name":"IBM390PS.CPC2.PART1","type":"linux"},` +
			`{"name":"PART2","object-uri":"/api/partitions/` + part2 + `","status":"active","target-name":"IBM390PS.CPC2.PART2","type":"linux"}]}`},
		{"/api/cpcs/" + cpc2 + "/partitions?status=active&status=starting&type=linux&name=P.*", `{"partitions":[` +
			`{"name":"PART2","object-uri":"/api/partitions/` + part2 + `","status":"active","target-name":"IBM390PS.CPC2.PART2","type":"linux"}]}`},
		{"/api/cpcs/" + cpc2 + "/partitions?type=ssc", `{"partitions":[]}`},
		{"/api/logical-partitions/" + lpar1 + "?properties=activation-mode,class,last-used-activation-profile,last-used-load-address,last-used-load-parameter," +
			"name,next-activation-profile-name,object-id,object-uri,parent,status,target-name", `{"activation-mode":"general","class":"logical-partition","last-used-activation-profile":"LP1",` +
			`"last-used-load-address":"00C1","last-used-load-parameter":"0A8201M1","name":"LP1","next-activation-profile-name":"LP1",` +
			`"object-id":"` + lpar1 + `","object-uri":"/api/logical-partitions/` + lpar1 + `","parent":"/api/cpcs/` + cpc1 + `","status":"operating","target-name":"IBM390PS.CPC1.LP1"}`},
		{"/api/logical-partitions/" + lpar2 + "?properties=status,next-activation-profile-name&cached-acceptable=true", `{"next-activation-profile-name":"LP2","status":"not-activated"}`},
		{"/api/logical-partitions/" + lpar2 + "?properties=status&properties=name", `{"name":"LP2","status":"not-activated"}`},
		{"/api/partitions/" + part2 + "?properties=class,name,object-id,object-uri,parent,status,target-name,type", `{"class":"partition","name":"PART2","object-id":"` + part2 + `","object-uri":"/api/partitions/` + part2 + `","parent":"/api/cpcs/` + cpc2 + `","status":"active","target-name":"IBM390PS.CPC2.PART2","type":"linux"}`},
		{"/api/cpcs/" + cpc1 + "?properties=dpm-enabled&cached-acceptable=false", `{"dpm-enabled":false}`},
		{"/api/cpcs/" + cpc1 + "/image-activation-profiles", `{"image-activation-profiles":[` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/image-activation-profiles/LP1","name":"LP1"},` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/image-activation-profiles/LP2","name":"LP2"},` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/image-activation-profiles/LP3","name":"LP3"}]}`},
		{"/api/cpcs/" + cpc1 + "/image-activation-profiles?name=LP[12]&additional-properties=load-at-activation,operating-mode", `{"image-activation-profiles":[` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/image-activation-profiles/LP1","load-at-activation":true,"name":"LP1","operating-mode":"general"},` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/image-activation-profiles/LP2","load-at-activation":false,"name":"LP2","operating-mode":"general"}]}`},
		{"/api/cpcs/" + cpc1 + "/image-activation-profiles?name=LP2", `{"image-activation-profiles":[` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/image-activation-profiles/LP2","name":"LP2"}]}`},
		{"/api/cpcs/" + cpc1 + "/image-activation-profiles/LP2?properties=class,description,element-id,element-uri,ipl-address,load-at-activation,ipl-parameter,name,operating-mode,parent",
			`{"class":"image-activation-profile","description":"","element-id":"LP2",` +
				`"element-uri":"/api/cpcs/` + cpc1 + `/image-activation-profiles/LP2","ipl-address":"00C2","ipl-parameter":"","load-at-activation":false,` +
				`"name":"LP2","operating-mode":"general","parent":"/api/cpcs/` + cpc1 + `"}`},
		{"/api/cpcs/" + cpc1 + "/image-activation-profiles/LP1?properties=load-at-activation,operating-mode", `{"load-at-activation":true,"operating-mode":"general"}`},
		{"/api/cpcs/" + cpc1 + "/load-activation-profiles", `{"load-activation-profiles":[` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/load-activation-profiles/ZOSLOAD","name":"ZOSLOAD"}]}`},
		{"/api/cpcs/" + cpc1 + "/load-activation-profiles/ZOSLOAD?properties=ipl-address", `{"ipl-address":"0A80"}`},
		{"/api/cpcs/" + cpc1 + "/reset-activation-profiles", `{"reset-activation-profiles":[` +
			`{"element-uri":"/api/cpcs/` + cpc1 + `/reset-activation-profiles/DEFAULT","name":"DEFAULT"}]}`},
		{"/api/cpcs/" + cpc2 + "/image-activation-profiles", `{"image-activation-profiles":[]}`},
		{"/api/console?properties=object-uri,name", `{"name":"bcpii-gateway","object-uri":"/api/console"}`},
	}
	for _, tt := range tests {
		resp, err := h.invoke(jobs.Owner{}, "GET", tt.uri, " \n")
		if err != nil {
			t.Errorf("GET %s: %v", tt.uri, err)
			continue
		}
		if resp.Status != 200 || resp.JobURI != "" || string(resp.Body) != tt.want {
			t.Errorf("GET %s = %d %s\nwant 200 %s", tt.uri, resp.Status, resp.Body, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	h := newHarness(t, "")
	tests := []struct {
		uri, target string
		ok          bool
	}{
		{"/api/cpcs", "", false},
		{"/api/cpcs?name=CPC1", "", false},
		{"/api/version", "", false},
		{"/api/cpcs/" + cpc1, "IBM390PS.CPC1", true},
		{"/api/cpcs/" + cpc1 + "/logical-partitions?name=LP1", "IBM390PS.CPC1", true},
		{"/api/cpcs/" + cpc2 + "/operations/stop", "IBM390PS.CPC2", true},
		{"/api/cpcs/" + cpc1 + "/anything/below", "IBM390PS.CPC1", true},
		{"/api/logical-partitions/" + lpar1, "IBM390PS.CPC1.LP1", true},
		{lparOp(lpar3, "load"), "IBM390PS.CPC1.LP3", true},
		{"/api/partitions/" + part1 + "/operations/start", "IBM390PS.CPC2.PART1", true},
		{"/api/logical-partitions/" + part1, "", false},
		{"/api/cpcs/nope", "", false},
		{"/api/jobs/" + jobs.NewID(), "", false},
		{"api/cpcs/" + cpc1, "", false},
	}
	for _, tt := range tests {
		target, ok := h.se.Resolve(tt.uri)
		if target.String() != tt.target || ok != tt.ok {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.uri, target, ok, tt.target, tt.ok)
		}
	}
}

// A stopping SE ends the jobs it runs, and refuses new operations.
func TestRunStops(t *testing.T) {
	h := newHarness(t, "")
	running := h.start(alice, partOp(part1, "start"), "")
	lpar := h.start(alice, lparOp(lpar2, "activate"), "")
	h.stop()
	stopped := `{"message":"The simulated Support Element stopped before the operation ended; the partition PART1 was left as it was."}`
	checkEnded(t, h.job(alice, running), jobs.Complete, 503, 1, stopped)
	checkEnded(t, h.job(alice, lpar), jobs.Complete, 503, 1,
		`{"message":"The simulated Support Element stopped before the operation ended; the logical partition LP2 was left as it was."}`)
	if s := h.status("/api/partitions/" + part1); s != "stopped" {
		t.Errorf("partition %s after shutdown", s)
	}
	_, err := h.invoke(alice, "POST", partOp(part1, "start"), "")
	checkHMCError(t, err, 503, 1)
	if err := h.se.Run(context.Background()); err == nil {
		t.Error("Run ran twice")
	}
	// Queries still answer.
	if _, err := h.invoke(alice, "GET", "/api/cpcs", ""); err != nil {
		t.Error(err)
	}
}

// A cancel pending when the SE stops ends the job canceled.
func TestRunStopsDuringCancel(t *testing.T) {
	h := newHarness(t, shapes)
	id := h.start(alice, partOp("part-slow", "start"), "")
	if _, err := h.reg.Cancel(context.Background(), jobs.Caller{Owner: alice}, id); err != nil {
		t.Fatal(err)
	}
	if !h.clock.WaitForTimers(2, t.Context().Done()) {
		t.Fatal("no cancel timer")
	}
	h.stop()
	checkEnded(t, h.job(alice, id), jobs.Canceled, 409, 0, `{"message":"The operation was canceled; the partition SLOW was left as it was."}`)
}

// Without Run an operation waits for it, since Run first settles the jobs
// an earlier SE left; a caller that gives up meanwhile gets 503.1, and no
// job was registered for it, so none is left running.
func TestInvokeWithoutRun(t *testing.T) {
	h := newStoppedHarness(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller has given up
	_, err := h.se.Invoke(ctx, bcpii.OperationRequest{Principal: principal(alice), Method: "POST", URI: partOp(part1, "start")})
	checkHMCError(t, err, 503, 1)
	page, _, err := h.reg.List(context.Background(), jobs.Caller{Owner: alice}, jobs.ListOptions{Limit: 10})
	if err != nil || len(page) != 0 {
		t.Fatalf("jobs %+v, %v", page, err)
	}
	if s := h.status("/api/partitions/" + part1); s != "stopped" {
		t.Errorf("partition %s", s)
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := simse.New(simse.Config{}); err == nil || !strings.Contains(err.Error(), "Registry") {
		t.Errorf("New without a registry: %v", err)
	}
	reg, err := jobs.New(jobs.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	bad := &simse.Inventory{CPCs: []simse.CPC{{Name: "C"}}}
	if _, err := simse.New(simse.Config{Registry: reg, Inventory: bad}); err == nil || !strings.Contains(err.Error(), "cpcs[0].object-id") {
		t.Errorf("New with a bad inventory: %v", err)
	}
}

// The SE keeps its own copy of the inventory.
func TestNewCopiesInventory(t *testing.T) {
	fc := clocktest.NewFake(epoch)
	reg, err := jobs.New(jobs.Config{Store: memstore.New(), Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	inv, err := simse.DefaultInventory()
	if err != nil {
		t.Fatal(err)
	}
	se, err := simse.New(simse.Config{Registry: reg, Inventory: inv, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	inv.CPCs[0].LogicalPartitions[0].Status = "exceptions"
	inv.CPCs[0].TargetName = "X.Y"
	if target, _ := se.Resolve("/api/logical-partitions/" + lpar1); target.String() != "IBM390PS.CPC1.LP1" {
		t.Errorf("target %s", target)
	}
}

// The simulator knows no transport: the BCPii layer and the servers call
// it, never the other way round.
func TestImportsNoTransport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "google.golang.org/") || strings.Contains(dep, "/gen/") ||
			strings.HasPrefix(dep, "github.com/grpc-ecosystem/") || strings.HasPrefix(dep, "net/http") {
			t.Errorf("internal/simse depends on %s", dep)
		}
	}
}

// principal and targetOf are the tests' owner principals and target
// names.
var principal, targetOf = bcpiitest.Principal, bcpiitest.Target
