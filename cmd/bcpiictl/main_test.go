package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// The test inventory gives each outcome an operation: LP2 activate
// succeeds quickly, LP1 (already operating) activate fails with 409.1,
// PART1 start runs long and can be canceled, LP3 activate runs long.
const inventory = `cpcs:
  - name: CPC1
    object-id: e199300c-0455-47d9-8c76-3ca3e6646afb
    target-name: IBM390PS.CPC1
    status: operating
    logical-partitions:
      - name: LP1
        object-id: 966349c5-ce85-48d4-b15d-c82d99835b98
        status: operating
        operations: {activate: {duration: 200ms}}
      - name: LP2
        object-id: 732b5207-24d8-4994-81dc-c9f05bcd2917
        status: not-activated
        operations: {activate: {duration: 200ms}}
      - name: LP3
        object-id: ab648f14-bb53-4a8b-b2bd-7c224d5b4360
        status: not-operating
        operations: {activate: {duration: 1h}}
  - name: CPC2
    object-id: 7689e368-4186-4d7c-b2d5-57241f8c56ca
    target-name: IBM390PS.CPC2
    dpm-enabled: true
    status: operating
    partitions:
      - name: PART1
        object-id: 92191903-466e-4468-b537-135aa94c137c
        status: stopped
        operations: {start: {duration: 1h}}
`

type cli struct {
	bin string
	env []string
}

func setup(t *testing.T) cli {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bcpiictl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte(inventory), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan app.Addresses, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Config{
			DataDir: data, GRPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", StompAddr: "127.0.0.1:0", Socket: "-",
			Store: app.StoreMemory, Inventory: inv,
			OnListening: func(a app.Addresses) { addrs <- a },
		}, slog.New(slog.DiscardHandler))
	}()
	var a app.Addresses
	started, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-started.Done():
		t.Fatal("gateway did not start within 30s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	return cli{bin: bin, env: []string{
		"BCPII_ADDR=" + a.GRPC,
		"BCPII_CA=" + filepath.Join(data, "tls", "gateway.crt"),
		"HOME=" + dir,
	}}
}

// run runs the built binary, piped (not a terminal), and returns its
// output and exit status.
func (c cli) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// A command that never ends is killed, failing the test, rather than
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bcpiictl %v did not end within a minute", args)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

const (
	lp1   = "/api/logical-partitions/966349c5-ce85-48d4-b15d-c82d99835b98"
	lp2   = "/api/logical-partitions/732b5207-24d8-4994-81dc-c9f05bcd2917"
	lp3   = "/api/logical-partitions/ab648f14-bb53-4a8b-b2bd-7c224d5b4360"
	part1 = "/api/partitions/92191903-466e-4468-b537-135aa94c137c"
)

func TestSuccessfulJob(t *testing.T) {
	c := setup(t)
	out, errOut, code := c.run(t, "invoke", "POST", lp2+"/operations/activate", "--target", "IBM390PS.CPC1.LP2", "--wait")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasSuffix(lines[0], " started") || !strings.Contains(lines[len(lines)-1], "complete 200") ||
		!strings.Contains(lines[len(lines)-1], `{"message":"Logical partition LP2 activated."}`) {
		t.Fatalf("output:\n%s", out)
	}
	jobURI := strings.TrimSuffix(lines[0], " started")
	// The same job, as the HMC's JSON.
	out, _, code = c.run(t, "-o", "json", "get", jobURI, "--target", "ibm390ps.cpc1.lp2")
	if code != exitOK || strings.TrimSpace(out) != `{"job-results":{"message":"Logical partition LP2 activated."},"job-status-code":200,"status":"complete"}` {
		t.Fatalf("get -o json: exit %d, %s", code, out)
	}
	out, _, code = c.run(t, "list", "--status", "complete")
	if code != exitOK || !strings.Contains(out, strings.TrimPrefix(jobURI, "/api/jobs/")) || !strings.Contains(out, "IBM390PS.CPC1.LP2") {
		t.Fatalf("list: exit %d, %s", code, out)
	}
	out, _, code = c.run(t, "delete", jobURI, "--target", "IBM390PS.CPC1.LP2")
	if code != exitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: exit %d, %s", code, out)
	}
	_, errOut, code = c.run(t, "get", jobURI, "--target", "IBM390PS.CPC1.LP2")
	if code != exitError || !strings.Contains(errOut, "404.1") {
		t.Fatalf("get after delete: exit %d, %s", code, errOut)
	}
}

func TestFailedJob(t *testing.T) {
	c := setup(t)
	out, _, code := c.run(t, "-o", "json", "invoke", "POST", lp1+"/operations/activate", "--target", "IBM390PS.CPC1.LP1", "--wait")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; output %s", code, exitFailed, out)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &j); err != nil {
		t.Fatalf("output is not one HMC JSON object: %q", out)
	}
	if j["status"] != "complete" || j["job-status-code"] != 409.0 || j["job-reason-code"] != 1.0 {
		t.Fatalf("job %v", j)
	}
}

func TestCanceledJob(t *testing.T) {
	c := setup(t)
	out, errOut, code := c.run(t, "invoke", "POST", part1+"/operations/start", "--target", "IBM390PS.CPC2.PART1")
	if code != exitOK {
		t.Fatalf("invoke: exit %d %s", code, errOut)
	}
	var started struct {
		JobURI string `json:"job-uri"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.JobURI == "" {
		t.Fatalf("invoke output %q", out)
	}
	if _, errOut, code := c.run(t, "cancel", started.JobURI, "--target", "IBM390PS.CPC2.PART1"); code != exitOK {
		t.Fatalf("cancel: exit %d %s", code, errOut)
	}
	out, _, code = c.run(t, "wait", started.JobURI, "--target", "IBM390PS.CPC2.PART1")
	if code != exitCanceled || !strings.Contains(out, "canceled") {
		t.Fatalf("wait: exit %d, want %d; %s", code, exitCanceled, out)
	}
	out, _, code = c.run(t, "watch", started.JobURI, "--target", "IBM390PS.CPC2.PART1")
	if code != exitCanceled || !strings.Contains(out, "canceled") {
		t.Fatalf("watch: exit %d; %s", code, out)
	}
}

func TestWaitTimesOut(t *testing.T) {
	c := setup(t)
	out, _, code := c.run(t, "invoke", "POST", lp3+"/operations/activate", "--target", "IBM390PS.CPC1.LP3")
	if code != exitOK {
		t.Fatalf("invoke: exit %d", code)
	}
	var started struct {
		JobURI string `json:"job-uri"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := c.run(t, "wait", started.JobURI, "--target", "IBM390PS.CPC1.LP3", "--timeout", "300ms")
	if code != exitTimeout || !strings.Contains(out, "running") || !strings.Contains(errOut, "has not ended") {
		t.Fatalf("wait: exit %d, want %d; stdout %q stderr %q", code, exitTimeout, out, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	c := setup(t)
	for _, args := range [][]string{{}, {"frobnicate"}, {"get"}, {"get", "a", "b"}, {"-o", "xml", "list"}, {"list", "--status", "done"}, {"invoke", "GET"}} {
		_, errOut, code := c.run(t, args...)
		if code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, want %d; %s", args, code, exitUsage, errOut)
		}
	}
	for _, cmd := range []string{"get", "cancel", "delete", "list", "wait", "watch", "invoke"} {
		_, errOut, code := c.run(t, cmd, "--help")
		if code != exitOK || !strings.Contains(errOut, "Usage: bcpiictl "+cmd) {
			t.Errorf("%s --help: exit %d; %s", cmd, code, errOut)
		}
	}
}

func TestRunInProcessNeedsNoGateway(t *testing.T) {
	// Usage errors are found before any connection is made.
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"wait"}, func(string) string { return "" }, &out, &errb); code != exitUsage {
		t.Fatalf("exit %d", code)
	}
}
