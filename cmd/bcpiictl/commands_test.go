package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestObjectsByName(t *testing.T) {
	c := setup(t)
	if out := c.ok(t, "cpc", "list"); !strings.Contains(out, "CPC2") || !strings.Contains(out, "IBM390PS.CPC2") {
		t.Fatalf("cpc list:\n%s", out)
	}
	if out := c.ok(t, "cpc", "show", "CPC1"); !regexp.MustCompile(`(?m)^target-name +IBM390PS\.CPC1$`).MatchString(out) {
		t.Fatalf("cpc show:\n%s", out)
	}
	if out := c.ok(t, "lpar", "list", "CPC1"); !strings.Contains(out, "IBM390PS.CPC1.LP3") {
		t.Fatalf("lpar list:\n%s", out)
	}
	if out := c.ok(t, "lpar", "show", "cpc1", "lp2"); !strings.Contains(out, "not-activated") {
		t.Fatalf("lpar show (names in any case):\n%s", out)
	}
	if out := c.ok(t, "partition", "show", "CPC2", "PART1"); !strings.Contains(out, "stopped") {
		t.Fatalf("partition show:\n%s", out)
	}
	r := c.run(t, "lpar", "list", "CPC2").want(t, exitError)
	if r.stderr != "bcpiictl: CPC2 is in DPM mode: it has partitions, not logical partitions (see 'bcpiictl partition list CPC2')\n" {
		t.Errorf("lpar list of a DPM CPC: %q", r.stderr)
	}
	r = c.run(t, "lpar", "activate", "CPC1", "LP9").want(t, exitError)
	if r.stderr != "bcpiictl: no logical partition named LP9 in CPC1; there are LP1, LP2, LP3\n" {
		t.Errorf("unknown LPAR: %q", r.stderr)
	}
}

func TestOperationsWait(t *testing.T) {
	c := setup(t)
	out := c.ok(t, "lpar", "activate", "CPC1", "LP2")
	if !regexp.MustCompile(`(?m)^[0-9a-f-]{36}  complete        200     \{"message":"Logical partition LP2 activated."\}$`).MatchString(out) {
		t.Fatalf("activate:\n%s", out)
	}
	// LP1 is operating: activate without --force fails, 409.1, exit 3;
	// with --force it succeeds.
	r := c.run(t, "-o", "json", "lpar", "activate", "CPC1", "LP1").want(t, exitFailed)
	var j map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j["job-status-code"] != 409.0 || j["job-reason-code"] != 1.0 {
		t.Fatalf("activate LP1: %q", r.stdout)
	}
	c.ok(t, "lpar", "activate", "CPC1", "LP1", "--force", "--activation-profile", "LP1")
	c.ok(t, "lpar", "load", "CPC1", "LP1", "--force", "--load-address", "00C00", "--clear")
	// LP1 is operating: stop leaves it not-operating, start operating
	// again, and a second start is permitted, as on an SE.
	c.ok(t, "lpar", "stop", "CPC1", "LP1")
	if out := c.ok(t, "lpar", "show", "CPC1", "LP1"); !strings.Contains(out, "not-operating") {
		t.Fatalf("LP1 after stop:\n%s", out)
	}
	c.ok(t, "lpar", "start", "CPC1", "LP1")
	c.ok(t, "lpar", "start", "CPC1", "LP1")
	// Reset of an operating LPAR needs --force; --clear makes it reset clear.
	c.run(t, "lpar", "reset", "CPC1", "LP1").want(t, exitFailed)
	if out := c.ok(t, "lpar", "reset", "CPC1", "LP1", "--force", "--clear"); !strings.Contains(out, `"Logical partition LP1 reset and cleared."`) {
		t.Fatalf("reset --clear:\n%s", out)
	}
	if out := c.ok(t, "lpar", "reset", "CPC1", "LP3"); !strings.Contains(out, `"Logical partition LP3 reset."`) {
		t.Fatalf("reset:\n%s", out)
	}
	if out := c.ok(t, "lpar", "psw-restart", "CPC1", "LP1"); !strings.Contains(out, `"Logical partition LP1 restarted."`) {
		t.Fatalf("psw-restart:\n%s", out)
	}
	// Deactivating an operating LPAR needs --force, as on an SE.
	c.run(t, "lpar", "deactivate", "CPC1", "LP1").want(t, exitFailed)
	c.ok(t, "lpar", "deactivate", "CPC1", "LP1", "--force", "--wait")
	// Starting a not-activated LPAR is the wrong state, 409.1, exit 3.
	r = c.run(t, "-o", "json", "lpar", "start", "CPC1", "LP1").want(t, exitFailed)
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j["job-status-code"] != 409.0 || j["job-reason-code"] != 1.0 {
		t.Fatalf("start of a not-activated LP1: %q", r.stdout)
	}
	c.ok(t, "partition", "stop", "CPC2", "PART2")
	if out := c.ok(t, "partition", "show", "CPC2", "PART2"); !strings.Contains(out, "stopped") {
		t.Fatalf("PART2 after stop:\n%s", out)
	}
	// A wait that passes its timeout exits 5.
	r = c.run(t, "lpar", "activate", "CPC1", "LP3", "--timeout", "300ms").want(t, exitTimeout)
	if !strings.Contains(r.stdout, "running") || !strings.Contains(r.stderr, "has not ended after 300ms") {
		t.Fatalf("activate LP3: %+v", r)
	}
}

// The job commands find the target name of a job bcpiictl started in the
// record it keeps; get and wait agree on the exit status of each state.
func TestJobCommandsAndExitStatus(t *testing.T) {
	c := setup(t)
	long := jobOf(t, c.ok(t, "partition", "start", "CPC2", "PART1", "--no-wait"))
	// Running: get answers 0, a wait that times out 5.
	c.ok(t, "get", long)
	c.run(t, "wait", long, "--timeout", "200ms").want(t, exitTimeout)
	if out := c.ok(t, "cancel", "/api/jobs/"+long); out != long+" cancel requested\n" {
		t.Fatalf("cancel: %q", out)
	}
	c.run(t, "wait", long).want(t, exitCanceled)
	c.run(t, "get", long).want(t, exitCanceled)
	c.run(t, "watch", long).want(t, exitCanceled)

	failed := jobOf(t, c.ok(t, "lpar", "activate", "CPC1", "LP1", "--no-wait"))
	c.run(t, "wait", failed).want(t, exitFailed)
	c.run(t, "get", failed).want(t, exitFailed)

	good := jobOf(t, c.ok(t, "lpar", "activate", "CPC1", "LP2", "--no-wait"))
	c.ok(t, "wait", good)
	c.ok(t, "get", good)
	// The record is not needed where --target is given.
	if err := os.RemoveAll(filepath.Join(c.home, ".local", "state", "bcpiictl")); err != nil {
		t.Fatal(err)
	}
	r := c.run(t, "get", good).want(t, exitError)
	if !strings.Contains(r.stderr, "name the target the job was started with: --target") && !strings.Contains(r.stderr, "404.1") {
		t.Fatalf("get without a record: %q", r.stderr)
	}
	c.ok(t, "get", good, "--target", "ibm390ps.cpc1.lp2")
	out := c.ok(t, "list", "--status", "complete")
	if !strings.Contains(out, good) || !strings.Contains(out, "IBM390PS.CPC1.LP2") || strings.Contains(out, long) {
		t.Fatalf("list --status complete:\n%s", out)
	}
	if out := c.ok(t, "delete", good, "--target", "IBM390PS.CPC1.LP2"); out != good+" deleted\n" {
		t.Fatalf("delete: %q", out)
	}
	c.run(t, "get", good, "--target", "IBM390PS.CPC1.LP2").want(t, exitError)
}

func TestInvoke(t *testing.T) {
	c := setup(t)
	if out := c.ok(t, "invoke", "GET", "/api/cpcs"); !strings.HasPrefix(out, `{"cpcs":[`) {
		t.Fatalf("invoke GET: %q", out)
	}
	uri := "/api/logical-partitions/732b5207-24d8-4994-81dc-c9f05bcd2917/operations/activate"
	out := c.ok(t, "invoke", "POST", uri, "--target", "IBM390PS.CPC1.LP2", "--wait", "-o", "json")
	if out != `{"job-results":{"message":"Logical partition LP2 activated."},"job-status-code":200,"status":"complete"}`+"\n" {
		t.Fatalf("invoke --wait: %q", out)
	}
	// Started without waiting, and followed with the recorded target.
	id := jobOf(t, c.ok(t, "invoke", "post", "/api/partitions/92191903-466e-4468-b537-135aa94c137c/operations/start", "--target", "IBM390PS.CPC2.PART1"))
	c.ok(t, "cancel", id)
	c.run(t, "wait", id).want(t, exitCanceled)
}

// Ctrl-C during a wait ends it at once with exit status 130.
func TestInterruptDuringWait(t *testing.T) {
	c := setup(t)
	id := jobOf(t, c.ok(t, "lpar", "activate", "CPC1", "LP3", "--no-wait"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "wait", id)
	cmd.Env = c.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := lines(stdout)
	// The first row shows the watch is up, and the signal handler with it.
	for line := range out {
		if strings.Contains(line, "running") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range out {
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatal("wait did not end within a minute of Ctrl-C")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || stderr.String() != "bcpiictl: interrupted\n" {
		t.Fatalf("exit %d (%v), stderr %q; want %d", code, err, stderr.String(), exitInterrupted)
	}
}

func TestCompletionAndVersion(t *testing.T) {
	c := setup(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out := c.ok(t, "completion", shell)
		if len(out) < 100 || !strings.Contains(out, "bcpiictl") {
			t.Errorf("completion %s: %d bytes", shell, len(out))
		}
		if shell != "bash" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		check := exec.CommandContext(ctx, "bash", "-n")
		check.Stdin = strings.NewReader(out)
		if msg, err := check.CombinedOutput(); err != nil {
			t.Errorf("bash -n on the completion script: %v\n%s", err, msg)
		}
		cancel()
	}
	// Completion asks the gateway for names.
	if out := c.ok(t, "__complete", "lpar", "activate", "CPC1", ""); !strings.Contains(out, "LP2\n") {
		t.Errorf("completing an LPAR name:\n%s", out)
	}
	out := c.ok(t, "--version")
	if !regexp.MustCompile(`^bcpiictl \S+.* go1\.\S+\n$`).MatchString(out) {
		t.Errorf("--version: %q", out)
	}
}

func TestLogonKeepsTheSession(t *testing.T) {
	c := setup(t)
	partitions := jobOf(t, c.ok(t, "lpar", "activate", "CPC1", "LP2", "--no-wait"))
	r := c.runInput(t, testPassword+"\n", "logon", testUser).want(t, exitOK)
	file := filepath.Join(c.home, ".local", "state", "bcpiictl", "state.json")
	if r.stdout != "logged on to "+c.addrs.GRPC+" as alice; the session is kept in "+file+"\n" {
		t.Fatalf("logon: %q", r.stdout)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v", fi, err)
	}
	// Later commands act as alice: the partition's job is not hers.
	if out := c.ok(t, "list"); strings.Contains(out, partitions) {
		t.Fatalf("list as alice shows the partition's job:\n%s", out)
	}
	c.ok(t, "logoff")
	if out := c.ok(t, "list"); !strings.Contains(out, partitions) {
		t.Fatalf("list as the partition after logoff:\n%s", out)
	}
	if r := c.run(t, "logoff").want(t, exitError); r.stderr != "bcpiictl: no session is kept for "+c.addrs.GRPC+"\n" {
		t.Fatalf("second logoff: %q", r.stderr)
	}
	r = c.runInput(t, "wrong\n", "logon", testUser).want(t, exitError)
	if !strings.HasPrefix(r.stderr, "bcpiictl: 403.") {
		t.Fatalf("logon with a wrong password: %q", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	c := setup(t)
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"get"}, {"get", "a", "b"}, {"-o", "xml", "list"}, {"list", "--status", "done"},
		{"invoke", "GET"}, {"lpar", "activate", "CPC1"}, {"lpar", "activate", "CPC1", "LP2", "--wait", "--no-wait"},
		{"wait", "x", "--timeout", "0s"}, {"list", "--frob"},
	} {
		r := c.run(t, args...)
		if r.code != exitUsage || !strings.HasSuffix(r.stderr, "Run 'bcpiictl --help' for usage.\n") {
			t.Errorf("%v: exit %d, want %d; %s", args, r.code, exitUsage, r.stderr)
		}
	}
	for _, cmd := range [][]string{{"get"}, {"cancel"}, {"list"}, {"wait"}, {"invoke"}, {"lpar", "activate"}, {"partition", "start"}, {"logon"}} {
		out := c.ok(t, append(cmd, "--help")...)
		if !strings.Contains(out, "bcpiictl "+strings.Join(cmd, " ")) {
			t.Errorf("%v --help:\n%s", cmd, out)
		}
	}
	// The exit-status table is in the help of the commands that wait.
	if out := c.ok(t, "lpar", "activate", "--help"); !strings.Contains(out, exitTable) {
		t.Errorf("lpar activate --help has no exit-status table:\n%s", out)
	}
	// Global flags go anywhere.
	c.ok(t, "cpc", "list", "-o", "json")
	c.ok(t, "-o", "json", "cpc", "list")
}
