package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
)

// smallDisk mounts a tmpfs of size bytes on a new directory and returns
// it; the test skips, saying why, where mounting is not allowed (not
// root). The mount goes when the test ends, after whatever the test
// started later has stopped.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgfull")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("a size-limited tmpfs cannot be mounted here (it needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until its filesystem has no space left, and
// returns a function that removes it.
func fill(t *testing.T, dir string) func() {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
	}
	// The last partial chunk may have left a page or two: take them too.
	for _, n := range []int{4096, 512, 1} {
		f, _ := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		for f != nil {
			if _, err := f.Write(make([]byte, n)); err != nil {
				break
			}
		}
		f.Close()
	}
	return func() {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFullDisk runs the gateway with its bbolt store on a small tmpfs and
// fills it. Starts then answer 503.2 in HMC JSON and as a gRPC status with
// the detail, with a message that says the store is full; stored jobs
// still answer; a job running when the disk filled is not lost. Once the
// space is freed the gateway accepts again, without a restart, the running
// job ends as its operation did, and the database checks clean.
func TestFullDisk(t *testing.T) {
	dir := smallDisk(t, "2m")
	var logs apptest.LogBuffer
	g := startGateway(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})), func(c *app.Config) {
		c.DataDir = dir
		c.Store = app.StoreBolt
	})
	rest, conn := g.restClient(t), g.grpcConn(t)
	ops, jobsc := bcpiiv1.NewOperationServiceClient(conn), bcpiiv1.NewJobServiceClient(conn)
	activate := g.discover(t, rest, nil)["LP1"].uri + "/operations/activate"
	start := func() (string, error) {
		resp, err := ops.Invoke(withMD(t), &bcpiiv1.InvokeRequest{Method: "POST", Uri: activate, TargetName: lp1, Body: `{"force":true}`})
		if err != nil {
			return "", err
		}
		return jobIDFromURI(t, resp.GetJobUri()), nil
	}
	asLP1 := func() context.Context { return withMD(t, rpctypes.TargetKey, lp1) }

	// A job that ended, and one running, before the disk fills.
	ended, err := start()
	if err != nil {
		t.Fatal(err)
	}
	g.wantJobEnds(t, jobsc, ended, 200)
	running, err := start()
	if err != nil {
		t.Fatal(err)
	}
	free := fill(t, dir)

	// bbolt reuses the pages its file already has, so a start or two may
	// still fit; each one that does ends its job and frees the object.
	// Starts that need the file to grow are refused.
	accepted := []string{ended, running}
	var refused error
	for i := 0; refused == nil && i < 200; i++ {
		g.clock.Advance(3 * time.Second) // the object is free when the job ends
		id, err := start()
		switch d, _ := rpctypes.HMCDetail(err); {
		case err == nil:
			accepted = append(accepted, id)
		case d.GetHttpStatus() == 409 && d.GetReason() == 2:
			// busy: the last job's end is being written
		default:
			refused = err
		}
	}
	if refused == nil {
		t.Fatal("200 starts on a full disk were all accepted")
	}
	t.Logf("%d starts accepted on the full disk before one was refused", len(accepted)-2)
	d := wantGRPCError(t, refused, codes.Unavailable, 503, 2)
	if !strings.Contains(d.GetMessage(), "store is full") {
		t.Errorf("message %q does not say the store is full", d.GetMessage())
	}
	e := wantRESTError(t, g.rest(t, rest, http.MethodPost, activate, http.Header{"X-Api-Target-Name": {lp1}}, `{"force":true}`), 503, 2)
	if !strings.Contains(e.Message, "store is full") || strings.Contains(e.Message, "no space left") {
		t.Errorf("REST message %q: want the store full, no cause", e.Message)
	}
	// The refusal's own log line names the cause, before the answer.
	if l := logs.String(); !strings.Contains(l, "msg=unavailable") || !strings.Contains(l, "no space left on device") {
		t.Errorf("the log does not name the cause:\n%s", l)
	}
	// A job whose end could not be written is still running, and says so
	// in the log; its end is written once space returns. Its operation
	// ends on its own goroutine: wait, bounded, for one or the other.
	wantEndedOrWaiting(t, jobsc, asLP1, running, &logs)
	// Stored jobs still answer.
	if a := g.rest(t, rest, http.MethodGet, "/api/jobs/"+ended, http.Header{"X-Api-Target-Name": {lp1}}, ""); a.status != 200 || jsonField(t, a.body, "status") != "complete" {
		t.Errorf("GET of a stored job on a full disk: %d %s", a.status, a.body)
	}
	for _, id := range accepted {
		if _, err := jobsc.GetJob(asLP1(), &bcpiiv1.GetJobRequest{JobId: id}); err != nil {
			t.Errorf("GetJob %s on a full disk: %v", id, err)
		}
	}

	// Space returns: every accepted job ends as its operation did (their
	// ends were written, or wait for space), and starts are accepted.
	free()
	for _, id := range accepted {
		g.wantEndsWhileClockRuns(t, jobsc, id)
	}
	again, err := start()
	if err != nil {
		t.Fatalf("a start once space returned: %v", err)
	}
	g.wantJobEnds(t, jobsc, again, 200)
	accepted = append(accepted, again)

	g.stop(t)
	checkBolt(t, filepath.Join(dir, "jobs.db"))
	g2 := startGateway(t, nil, func(c *app.Config) {
		c.DataDir = dir
		c.Store = app.StoreBolt
	})
	jobsc = bcpiiv1.NewJobServiceClient(g2.grpcConn(t))
	for _, id := range accepted {
		r, err := jobsc.GetJob(asLP1(), &bcpiiv1.GetJobRequest{JobId: id})
		if err != nil || r.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || r.GetJob().GetJobStatusCode() != 200 {
			t.Errorf("job %s after a restart: %v, %v; want complete 200", id, r, err)
		}
	}
}

// wantEndedOrWaiting waits, for at most 10 s, until the job id has ended
// or the log says that its end waits for space.
func wantEndedOrWaiting(t *testing.T, jobsc bcpiiv1.JobServiceClient, as func() context.Context, id string, logs *apptest.LogBuffer) {
	t.Helper()
	var err error
	if within(10*time.Second, func() bool {
		var r *bcpiiv1.GetJobResponse
		r, err = jobsc.GetJob(as(), &bcpiiv1.GetJobRequest{JobId: id})
		return err != nil || r.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_RUNNING ||
			strings.Contains(logs.String(), "the job's end is written once space returns")
	}) {
		if err != nil {
			t.Errorf("GetJob %s on a full disk: %v", id, err)
		}
		return
	}
	t.Errorf("job %s still runs after 10 s on a full disk, and the log does not say it waits for space", id)
}

// wantEndsWhileClockRuns waits for the LP1 job id to end complete 200,
// moving the fake clock on while it waits, so that writes waiting for
// space try again.
func (g *gateway) wantEndsWhileClockRuns(t *testing.T, jobsc bcpiiv1.JobServiceClient, id string) {
	t.Helper()
	got := make(chan *bcpiiv1.WaitJobResponse, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	go func() {
		r, err := jobsc.WaitJob(withMD(t, rpctypes.TargetKey, lp1), &bcpiiv1.WaitJobRequest{JobId: id})
		if err != nil {
			t.Errorf("WaitJob %s: %v", id, err)
		}
		got <- r
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-got:
			if r.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || r.GetJob().GetJobStatusCode() != 200 {
				t.Fatalf("job %s ended as %v, want complete 200", id, r.GetJob())
			}
			return
		case <-tick.C:
			g.clock.Advance(time.Second)
		case <-ctx.Done():
			t.Fatalf("job %s did not end within %v of space returning", id, waitLimit)
		}
	}
}

// checkBolt opens the stopped gateway's database: bbolt's own check finds
// nothing wrong.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
