package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// The helper process reads its orders from these variables.
const (
	envDir  = "BOLTSTORE_CRASH_DIR"  // directory of the store
	envJobs = "BOLTSTORE_CRASH_JOBS" // jobs to create; 0 for no end
	// envWriters is how many goroutines write at once, so that writes
	// share commits; writer w makes jobs w, w+writers, w+2*writers...
	envWriters = "BOLTSTORE_CRASH_WRITERS"
)

var crashOwners = []jobs.Owner{
	{Kind: jobs.UserOwner, Name: "alice"},
	{Kind: jobs.PartitionOwner, Name: "LPAR1"},
}

// crashResult is how the helper ends job i, if it does.
func crashResult(i int) (jobs.Result, bool) {
	switch i % 3 {
	case 0:
		return jobs.Result{Status: jobs.Complete, StatusCode: 200, Results: []byte(fmt.Sprintf(`{"i": %d}`, i))}, true
	case 1:
		return jobs.Result{Status: jobs.Canceled, StatusCode: 500, ReasonCode: 7}, true
	}
	return jobs.Result{}, false
}

// TestHelperProcess is the process TestKill kills. It creates and ends jobs
// through a registry on a store in $BOLTSTORE_CRASH_DIR and reports each
// write on stdout once the call has returned:
//
//	created <id> <i>
//	finished <id> <status>
//	ready
//
// and then waits for its stdin to close, which happens only when the
// parent is gone.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(envDir)
	if dir == "" {
		t.Skip("run by TestKill")
	}
	n, err := strconv.Atoi(os.Getenv(envJobs))
	if err != nil {
		fail(err)
	}
	st, err := Open(filepath.Join(dir, "jobs.db"))
	if err != nil {
		fail(err)
	}
	reg, err := jobs.New(jobs.Config{Store: st})
	if err != nil {
		fail(err)
	}
	writers, err := strconv.Atoi(os.Getenv(envWriters))
	if err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { helperWrite(reg, w, writers, n) })
	}
	wg.Wait()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "helper:", err)
	os.Exit(2)
}

// helperWrite creates and ends jobs w, w+writers... below n (0: no end).
func helperWrite(reg *jobs.Registry, w, writers, n int) {
	ctx := context.Background()
	for i := w; n == 0 || i < n; i += writers {
		j, err := reg.Create(ctx, jobs.Spec{Owner: crashOwners[i%2], Operation: fmt.Sprint("op ", i), Cancelable: true})
		if err != nil {
			fail(err)
		}
		fmt.Printf("created %s %d\n", j.ID, i)
		if res, ok := crashResult(i); ok {
			j, err = reg.Finish(ctx, j.ID, res)
			if err != nil {
				fail(err)
			}
			fmt.Printf("finished %s %s\n", j.ID, j.Status)
		}
	}
}

// TestKill kills a process writing to a store with SIGKILL and checks that
// every write the process was told had succeeded is in the file.
func TestKill(t *testing.T) {
	t.Run("Idle", func(t *testing.T) {
		// Killed after all writes returned.
		testKill(t, 60, 1, func(line string) bool { return line == "ready" })
	})
	for _, writers := range []int{1, 16} {
		t.Run(fmt.Sprintf("Writing/writers=%d", writers), func(t *testing.T) {
			// Killed while writing, after some writes returned; with
			// many writers, while they share commits.
			created := 0
			testKill(t, 0, writers, func(line string) bool {
				if strings.HasPrefix(line, "created ") {
					created++
				}
				return created >= 40*writers
			})
		})
	}
}

// testKill runs the helper to create n jobs (0: without end) from writers
// goroutines and kills it when kill, given each line the helper writes,
// returns true.
func testKill(t *testing.T, n, writers int, kill func(line string) bool) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), envDir+"="+dir, envJobs+"="+strconv.Itoa(n), envWriters+"="+strconv.Itoa(writers))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var out []string
	// Bounds the wait on the helper process: a helper that never reaches
	// the point to kill it at fails the test.
	deadline, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	killed := false
	for !killed {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("helper exited before it was killed: %v\n%s", cmd.ProcessState, stderr.Bytes())
			}
			out = append(out, line)
			killed = kill(line)
		case <-deadline.Done():
			_ = cmd.Process.Kill()
			for range lines {
			}
			_ = cmd.Wait()
			t.Fatalf("helper did not get far enough within a minute; it wrote %d lines\n%s", len(out), stderr.Bytes())
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill landed report writes that returned too.
	for line := range lines {
		out = append(out, line)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("helper exited normally after SIGKILL")
	}
	if cmd.ProcessState.Success() {
		t.Fatalf("helper was not killed: %v", cmd.ProcessState)
	}

	// What the helper reported.
	type report struct {
		i        int
		finished jobs.Status
	}
	reported := make(map[string]*report)
	var order []string
	last := make(map[int]int) // each writer's last job reported created
	for _, line := range out {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "created":
			i, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("bad line %q", line)
			}
			reported[f[1]] = &report{i: i}
			order = append(order, f[1])
			last[i%writers] = max(last[i%writers], i)
		case len(f) == 3 && f[0] == "finished" && reported[f[1]] != nil:
			reported[f[1]].finished = jobs.Status(f[2])
		case line == "ready":
		default:
			t.Fatalf("bad line %q", line)
		}
	}
	if len(order) == 0 {
		t.Fatal("helper reported no jobs")
	}
	if n > 0 && len(order) != n {
		t.Fatalf("helper reported %d jobs, want %d", len(order), n)
	}

	s := openAt(t, filepath.Join(dir, "jobs.db"))
	ctx := t.Context()
	var maxRev int64
	for _, id := range order {
		r := reported[id]
		j, err := s.Get(ctx, id)
		if err != nil {
			t.Errorf("job %d (%s), reported created: %v", r.i, id, err)
			continue
		}
		maxRev = max(maxRev, j.Revision)
		if j.Owner != crashOwners[r.i%2] || j.Operation != fmt.Sprint("op ", r.i) || j.Revision < j.CreateRevision {
			t.Errorf("job %d (%s) is %+v", r.i, id, j)
		}
		res, ends := crashResult(r.i)
		switch {
		case r.finished != "":
			if j.Status != r.finished || j.Status != res.Status || j.StatusCode != res.StatusCode ||
				!bytes.Equal(j.Results, res.Results) || j.Ended.IsZero() {
				t.Errorf("job %d (%s), reported %s: status %s, code %d, results %q, ended %v",
					r.i, id, r.finished, j.Status, j.StatusCode, j.Results, j.Ended)
			}
		case j.Status == jobs.Running:
		case ends && r.i == last[r.i%writers] && j.Status == res.Status:
			// The kill came after the Finish of a writer's last job
			// committed but before the helper reported it.
		default:
			t.Errorf("job %d (%s), reported running: status %s", r.i, id, j.Status)
		}
	}

	// The indexes hold the jobs too.
	var listed []jobs.Job
	for _, o := range crashOwners {
		js, err := s.List(ctx, jobs.ListQuery{Owner: o, Limit: math.MaxInt32})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, js...)
	}
	// At most one job more than reported per writer: created, but killed
	// before the report.
	if len(listed) < len(order) || len(listed) > len(order)+writers {
		t.Errorf("List finds %d jobs; %d were reported", len(listed), len(order))
	}
	endedJobs, err := s.EndedBefore(ctx, time.Now().Add(time.Hour), jobs.EndKey{}, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	endedIDs := make(map[string]bool)
	for _, j := range endedJobs {
		endedIDs[j.ID] = true
	}
	for id, r := range reported {
		if r.finished != "" && !endedIDs[id] {
			t.Errorf("job %d (%s), reported %s, is not in the end-time index", r.i, id, r.finished)
		}
	}

	// The revision counter went on from where the process stopped.
	c, err := s.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: crashOwners[0], Status: jobs.Running, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if c.CreateRevision <= maxRev {
		t.Errorf("CreateRevision %d after the crash, want above %d", c.CreateRevision, maxRev)
	}
	t.Logf("%d jobs reported before the kill", len(order))
}
