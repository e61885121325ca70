package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/durationpb"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// replicaTTL is the replicas' --lease-ttl here, pollInterval their
// --hmc-poll-interval.
const (
	replicaTTL   = 3 * time.Second
	pollInterval = time.Second
)

// startEtcd runs a real etcd (Debian's etcd-server) on loopback ports in a
// temporary directory and returns its client URL and a client, both gone
// when the test ends.
func startEtcd(t *testing.T) (string, *clientv3.Client) {
	t.Helper()
	m := etcdtest.StartCluster(t, 1).Members[0]
	cli := m.Client()
	t.Cleanup(func() { cli.Close() })
	return m.Endpoint(), cli
}

type replica struct {
	cmd        *exec.Cmd
	grpc, rest string
	data       string
	jobs       bcpiiv1.JobServiceClient
	ops        bcpiiv1.OperationServiceClient
	http       *http.Client
}

func (r *replica) get(t *testing.T, path, target string) (int, string) {
	t.Helper()
	return r.do(t, "GET", path, target)
}

func (r *replica) do(t *testing.T, method, path, target string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+r.rest+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Target-Name", target)
	resp, err := r.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func startReplica(t *testing.T, bin string, args ...string) *replica {
	t.Helper()
	cmd, grpcAddr, restAddr, data := startGateway(t, bin, args...)
	conn := dialTLS(t, grpcAddr, data)
	t.Cleanup(func() { conn.Close() })
	pem, err := os.ReadFile(filepath.Join(data, "tls", "gateway.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	t.Cleanup(tr.CloseIdleConnections)
	return &replica{cmd: cmd, grpc: grpcAddr, rest: restAddr, data: data,
		jobs: bcpiiv1.NewJobServiceClient(conn), ops: bcpiiv1.NewOperationServiceClient(conn),
		http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// replicaUser writes the users file of an upstream gateway with the API
// user the replicas log on as, and the replicas' credentials file.
func replicaUser(t *testing.T) (users, creds string) {
	t.Helper()
	dir := t.TempDir()
	h, err := bcrypt.GenerateFromPassword([]byte("replica-pass-1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users = filepath.Join(dir, "users.yaml")
	creds = filepath.Join(dir, "hmc-credentials")
	if err := os.WriteFile(users, []byte("users:\n  - name: replicas\n    password-hash: \""+string(h)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte("userid: replicas\npassword: replica-pass-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return users, creds
}

// TestReplicasMultiProcess runs, as real processes, a real etcd, one
// gateway on the simulated SE, and three replicas on etcd with it as their
// upstream HMC; then kills the replica following a running job with
// SIGKILL and sees another finish the job.
func TestReplicasMultiProcess(t *testing.T) {
	endpoint, cli := startEtcd(t)
	bin := buildGateway(t)
	const opDuration = 3 * time.Second
	users, creds := replicaUser(t)
	_, _, upREST, upData := startGateway(t, bin, "--inventory", crashInventory(t, opDuration), "--users-file", users, "--socket", "-")
	var rs []*replica
	for range 3 {
		rs = append(rs, startReplica(t, bin, "--socket", "-", "--backend", "hmc", "--hmc-url", "https://"+upREST,
			"--hmc-ca", filepath.Join(upData, "tls", "gateway.crt"), "--hmc-credentials", creds, "--hmc-poll-interval", pollInterval.String(),
			"--store", "etcd", "--etcd-endpoints", endpoint, "--lease-ttl", replicaTTL.String()))
	}
	a, b, c := rs[0], rs[1], rs[2]
	start := func(r *replica, i int) string {
		t.Helper()
		ctx, cancel := call(i, 30*time.Second)
		defer cancel()
		resp, err := r.ops.Invoke(ctx, &bcpiiv1.InvokeRequest{
			Method: "POST", Uri: fmt.Sprintf("/api/partitions/00000000-0000-4000-8000-%012d/operations/start", i+1),
			TargetName: partitionTarget(i),
		})
		if err != nil || resp.HttpStatus != 202 {
			t.Fatalf("start %d: %v %v", i, resp, err)
		}
		return strings.TrimPrefix(resp.JobUri, "/api/jobs/")
	}
	wait := func(r *replica, i int, id string) *bcpiiv1.Job {
		t.Helper()
		ctx, cancel := call(i, 30*time.Second)
		defer cancel()
		resp, err := r.jobs.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: durationpb.New(25 * time.Second)})
		if err != nil || resp.TimedOut {
			t.Fatalf("WaitJob %s: %v %v", id, resp, err)
		}
		return resp.Job
	}

	// Watchers at C over gRPC and SSE, from before the job starts.
	wctx, wcancel := call(0, 30*time.Second)
	defer wcancel()
	stream, err := c.jobs.WatchJobCompletions(wctx, &bcpiiv1.WatchJobCompletionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	sseLines := sse(t, c, partitionTarget(0))

	// A job started at A: the same bytes at B and C right after the 202.
	first := start(a, 0)
	_, want := a.get(t, "/api/jobs/"+first, partitionTarget(0))
	for name, r := range map[string]*replica{"B": b, "C": c} {
		if code, got := r.get(t, "/api/jobs/"+first, partitionTarget(0)); code != 200 || got != want {
			t.Errorf("replica %s answers %d %s, A %s", name, code, got, want)
		}
	}
	done, err := stream.Recv()
	if err != nil || done.JobId != first || done.Job.GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE {
		t.Fatalf("gRPC completion at C: %v %v", done, err)
	}
	if line, ok := <-sseLines; !ok || !strings.Contains(line, first) {
		t.Fatalf("SSE completion at C: %q %v", line, ok)
	}

	// Cancel at B, delete at C.
	second := start(a, 1)
	if code, body := b.do(t, "POST", "/api/jobs/"+second+"/operations/cancel", partitionTarget(1)); code != 202 {
		t.Fatalf("cancel at B: %d %s", code, body)
	}
	if j := wait(c, 1, second); j.Status != bcpiiv1.JobStatus_JOB_STATUS_CANCELED {
		t.Fatalf("the job canceled at B ended %v", j)
	}
	if code, body := c.do(t, "DELETE", "/api/jobs/"+second, partitionTarget(1)); code != 204 {
		t.Fatalf("delete at C: %d %s", code, body)
	}
	if code, _ := a.get(t, "/api/jobs/"+second, partitionTarget(1)); code != 404 {
		t.Fatalf("the job deleted at C is at A: %d", code)
	}

	// kill -9 the follower of a running job: another takes it over within
	// the TTL and one poll interval of the kill, and queries it at once.
	third := start(a, 2)
	f := claimHolder(t, cli, rs, third)
	wctx, stopWatch := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopWatch()
	claims := cli.Watch(wctx, "/bcpii-gateway/c/"+third)
	killed := time.Now()
	_ = rs[f].cmd.Process.Signal(syscall.SIGKILL)
	_ = rs[f].cmd.Wait()
	takenOver := func() time.Duration {
		for resp := range claims {
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					return time.Since(killed)
				}
			}
		}
		t.Fatalf("no replica took job %s over within 30s", third)
		return 0
	}()
	other := rs[(f+1)%3]
	j := wait(other, 2, third)
	ended := time.Since(killed)
	if j.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || j.GetJobStatusCode()/100 != 2 {
		t.Fatalf("the job of the killed replica ended %v", j)
	}
	if limit := replicaTTL + pollInterval; takenOver > limit {
		t.Errorf("the job of the killed replica was taken over %v after the kill, more than TTL + one poll interval (%v)", takenOver, limit)
	}
	// The end is seen by the query at the takeover, or by the next one,
	// a poll interval (jittered by up to 10%) on, after the operation's
	// end (at most opDuration after the kill); 250 ms for the round trips.
	if limit := max(takenOver, opDuration) + pollInterval*11/10 + 250*time.Millisecond; ended > limit {
		t.Errorf("the job of the killed replica ended %v after the kill, more than %v", ended, limit)
	}
	t.Logf("the killed replica's job: taken over %v after the kill, seen ended %v after it (TTL %v, poll interval %v, operation %v)",
		takenOver.Round(time.Millisecond), ended.Round(time.Millisecond), replicaTTL, pollInterval, opDuration)

	// Nothing is left running on the replicas that live.
	for i, r := range rs {
		if i == f {
			continue
		}
		ctx, cancel := call(0, 30*time.Second)
		list, err := r.jobs.ListJobs(ctx, &bcpiiv1.ListJobsRequest{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, lj := range list.Jobs {
			if st := lj.GetJob().GetStatus(); st == bcpiiv1.JobStatus_JOB_STATUS_RUNNING || st == bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING {
				t.Errorf("job %v is left %v", lj, st)
			}
		}
	}
}

// claimHolder returns which replica holds the job's claim, by the pid the
// claim names.
func claimHolder(t *testing.T, cli *clientv3.Client, rs []*replica, id string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := cli.Get(ctx, "/bcpii-gateway/c/"+id)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 1 {
			for i, r := range rs {
				if strings.Contains(string(resp.Kvs[0].Value), fmt.Sprintf("/%d ", r.cmd.Process.Pid)) {
					return i
				}
			}
			t.Fatalf("the claim on %s names %q, no replica", id, resp.Kvs[0].Value)
		}
	}
	t.Fatalf("no claim on job %s within 30s", id)
	return -1
}

// sse opens the job-completions event stream of r as the local partition
// naming target, and delivers its data lines.
func sse(t *testing.T, r *replica, target string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+r.rest+"/api/job-completions", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-API-Target-Name", target)
	resp, err := (&http.Client{Transport: r.http.Transport}).Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("job-completions stream: %v %v", resp, err)
	}
	out := make(chan string, 16)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				select {
				case out <- sc.Text():
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
