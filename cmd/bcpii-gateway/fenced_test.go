package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// certFingerprint is the SHA-256 fingerprint of the certificate a gateway
// made in its data directory, as --hmc-fingerprint takes it.
func certFingerprint(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "tls", "gateway.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM certificate")
	}
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

// nsCaller calls a gateway's REST port from inside a network namespace,
// where the gateway listens on loopback: the caller is the namespace's
// local partition.
type nsCaller struct {
	t        *testing.T
	ns, addr string
	ca       string
}

// do sends one request with curl, bounded by limit, and returns the
// status, the body and how long the answer took.
func (c nsCaller) do(method, path, target string, limit time.Duration) (int, string, time.Duration) {
	c.t.Helper()
	began := time.Now()
	out, err := exec.Command("ip", "netns", "exec", c.ns, "curl", "-s", "-X", method,
		"--max-time", strconv.Itoa(int(limit/time.Second)), "--cacert", c.ca,
		"-H", "X-API-Target-Name: "+target, "-w", "\n%{http_code}", "https://"+c.addr+path).Output()
	took := time.Since(began)
	if err != nil {
		return 0, fmt.Sprintf("curl: %v", err), took
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	code, _ := strconv.Atoi(s[i+1:])
	return code, s[:i], took
}

// TestFencedReplica runs three replicas, one of them in a network
// namespace of its own (veth), on one etcd and one upstream gateway, and
// cuts that replica's link while it follows running jobs. Its callers
// (inside the namespace) get 503.1 within its job cache's trust (1.5 s)
// and the etcd request timeout (5 s), as the README says; the other replicas take its jobs over within the
// lease TTL and one poll interval of the cut and end them. When the link
// returns, the fenced replica writes nothing under the claims it lost,
// accepts and follows new jobs again, and no claim is left behind.
func TestFencedReplica(t *testing.T) {
	ns, hostAddr := netns(t)
	hostLink := fmt.Sprintf("bcpiih%d", os.Getpid()%250)
	cluster := etcdtest.StartClusterOn(t, 1, hostAddr)
	cli := cluster.Members[0].Client()
	t.Cleanup(func() { cli.Close() })
	bin := buildGateway(t)
	const opDuration = 8 * time.Second
	users, creds := replicaUser(t)
	_, _, upREST, upData := startGateway(t, bin, "--inventory", crashInventory(t, opDuration), "--users-file", users,
		"--socket", "-", "--rest-addr", hostAddr+":0")
	args := []string{"--socket", "-", "--backend", "hmc", "--hmc-url", "https://" + upREST,
		"--hmc-fingerprint", certFingerprint(t, upData), "--hmc-credentials", creds, "--hmc-poll-interval", pollInterval.String(),
		"--hmc-stomp-addr", "-", "--store", "etcd", "--etcd-endpoints", cluster.Endpoints()[0], "--lease-ttl", replicaTTL.String()}
	a := startReplica(t, bin, args...)
	b := startReplica(t, bin, args...)
	fcmd, _, fREST, fData := startGatewayIn(t, []string{"ip", "netns", "exec", ns}, bin, args...)
	f := nsCaller{t: t, ns: ns, addr: fREST, ca: filepath.Join(fData, "tls", "gateway.crt")}
	rs := []*replica{a, b, {cmd: fcmd}}

	startAtF := func(i int) string {
		t.Helper()
		code, body, _ := f.do("POST", fmt.Sprintf("/api/partitions/00000000-0000-4000-8000-%012d/operations/start", i+1), partitionTarget(i), 20*time.Second)
		var r struct {
			URI string `json:"job-uri"`
		}
		if code != 202 || json.Unmarshal([]byte(body), &r) != nil {
			t.Fatalf("start %d at the namespaced replica: %d %s", i, code, body)
		}
		return strings.TrimPrefix(r.URI, "/api/jobs/")
	}
	ids := []string{startAtF(0), startAtF(1), startAtF(2)}
	for _, id := range ids {
		if got := claimHolder(t, cli, rs, id); got != 2 {
			t.Fatalf("job %s accepted by the namespaced replica is followed by replica %d", id, got)
		}
	}
	wctx, stopWatch := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopWatch()
	claims := cli.Watch(wctx, "/bcpii-gateway/c/", clientv3.WithPrefix(), clientv3.WithFilterDelete())

	runCmd(t, "ip", "link", "set", hostLink, "down")
	cut := time.Now()
	// The others take its jobs over: the watch's news is timed as it
	// comes, beside the query below.
	takenc := make(chan map[string]time.Duration, 1)
	go func() {
		taken := map[string]time.Duration{}
		for resp := range claims {
			for _, ev := range resp.Events {
				id := strings.TrimPrefix(string(ev.Kv.Key), "/bcpii-gateway/c/")
				if _, seen := taken[id]; !seen && strings.Contains(strings.Join(ids, " "), id) {
					taken[id] = time.Since(cut)
				}
			}
			if len(taken) == len(ids) {
				break
			}
		}
		takenc <- taken
	}()

	// Its callers are told: 503.1, once its job cache no longer trusts
	// itself (1.5 s without word from etcd) and the request timeout (5 s)
	// has run out; until then a query may be answered from the cache.
	var code int
	var body string
	for code = 200; code == 200 && time.Since(cut) < 3*time.Second; {
		code, body, _ = f.do("GET", "/api/jobs/"+ids[0], partitionTarget(0), 20*time.Second)
	}
	told := time.Since(cut)
	if code != 503 || !strings.Contains(body, `"reason":1`) || told > 8*time.Second {
		t.Errorf("queries at the cut-off replica: %d %s %v after the cut; want 503.1 within 1.5 + 5 s", code, body, told)
	}
	t.Logf("queries at the cut-off replica: %d %v after the cut", code, told.Round(time.Millisecond))

	taken := <-takenc
	if len(taken) < len(ids) {
		t.Fatalf("only %d of the cut-off replica's jobs taken over within 60 s", len(taken))
	}
	for id, d := range taken {
		if d > replicaTTL+pollInterval {
			t.Errorf("job %s taken over %v after the cut, more than TTL + one poll interval (%v)", id, d, replicaTTL+pollInterval)
		}
	}
	t.Logf("taken over after the cut: %v", taken)
	var endedRev int64
	for i, id := range ids {
		ctx, cancel := call(i, 30*time.Second)
		r, err := a.jobs.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id})
		cancel()
		if err != nil || r.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || r.GetJob().GetJobStatusCode()/100 != 2 {
			t.Fatalf("job %s of the cut-off replica: %v %v", id, r, err)
		}
		resp, err := cli.Get(context.Background(), "/bcpii-gateway/j/"+id)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("job %s in etcd: %v %v", id, resp, err)
		}
		endedRev = max(endedRev, resp.Header.Revision)
	}

	// The link returns: the replica rejoins and follows a new job itself.
	runCmd(t, "ip", "link", "set", hostLink, "up")
	writes := cli.Watch(wctx, "/bcpii-gateway/j/", clientv3.WithPrefix(), clientv3.WithRev(endedRev+1))
	var fresh string
	deadline := time.Now().Add(30 * time.Second)
	for fresh == "" {
		code, body, _ := f.do("POST", "/api/partitions/00000000-0000-4000-8000-000000000004/operations/start", partitionTarget(3), 10*time.Second)
		switch {
		case code == 202:
			var r struct {
				URI string `json:"job-uri"`
			}
			_ = json.Unmarshal([]byte(body), &r)
			fresh = strings.TrimPrefix(r.URI, "/api/jobs/")
		case time.Now().After(deadline):
			t.Fatalf("the replica does not accept jobs within 30 s of its link returning: %d %s", code, body)
		}
	}
	if got := claimHolder(t, cli, rs, fresh); got != 2 {
		t.Errorf("the job accepted by the rejoined replica is followed by replica %d", got)
	}
	// Its event stream ends with the job's end.
	out, err := exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-N", "--max-time", "30", "--cacert", f.ca,
		"-H", "Accept: text/event-stream", "-H", "X-API-Target-Name: "+partitionTarget(3),
		"https://"+f.addr+"/api/jobs/"+fresh+"/events").Output()
	if err != nil || !strings.Contains(string(out), `"status":"complete"`) {
		t.Fatalf("the rejoined replica's job: %v\n%s", err, out)
	}

	// Since the old jobs ended, only the new job was written: nothing
	// under the claims the cut-off replica lost.
	stopWatch()
	for resp := range writes {
		for _, ev := range resp.Events {
			if id := strings.TrimPrefix(string(ev.Kv.Key), "/bcpii-gateway/j/"); id != fresh {
				t.Errorf("job %s was written again after it ended (revision %d)", id, ev.Kv.ModRevision)
			}
		}
	}
	resp, err := cli.Get(context.Background(), "/bcpii-gateway/c/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if id := strings.TrimPrefix(string(kv.Key), "/bcpii-gateway/c/"); id != fresh {
			t.Errorf("a claim on job %s is left after it ended", id)
		}
	}
}
