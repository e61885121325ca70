package upstream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// manyPartitions is an inventory of one DPM CPC with n stopped partitions
// whose start runs until the upstream's fake clock passes an hour.
func manyPartitions(t testing.TB, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("cpcs:\n  - name: CPC9\n    object-id: 00000000-0000-4000-8000-000000000000\n    target-name: IBM390PS.CPC9\n    dpm-enabled: true\n    status: operating\n    partitions:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - name: P%04d\n        object-id: 00000000-0000-4000-8000-%012d\n        status: stopped\n        operations:\n          start: {duration: 1h}\n", i, i+1)
	}
	path := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var jobQueryRE = regexp.MustCompile(`(?m)^bcpii_upstream_requests_total\{kind="job_query"\} (\d+)`)

// jobQueries is the sum of the replicas' upstream job polls so far.
func jobQueries(t testing.TB, rs []*node) int64 {
	t.Helper()
	var sum int64
	for _, r := range rs {
		resp, err := (&http.Client{Timeout: waitLimit}).Get("http://" + r.addrs.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := jobQueryRE.FindSubmatch(body)
		if m == nil {
			t.Fatalf("no job_query count in the metrics of %s", r.addrs.Admin)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		sum += n
	}
	return sum
}

// pollsPerInterval starts n jobs spread over three replicas, waits until
// every one is claimed, and returns the upstream job polls of all three
// per poll interval, measured over intervals intervals.
func pollsPerInterval(t testing.TB, n int, poll time.Duration, intervals int) float64 {
	srv := etcdtest.Start(t)
	up := startUpstream(t, manyPartitions(t, n))
	rs := startReplicas(t, up, srv, 3, poll, func(c *app.Config) { c.AdminAddr = "127.0.0.1:0" })
	clients := []*grpcClient{rs[0].grpc(t), rs[1].grpc(t), rs[2].grpc(t)}
	var wg sync.WaitGroup
	work := make(chan int)
	for w := range 16 {
		wg.Go(func() {
			for i := range work {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				r, err := clients[(i+w)%3].ops.Invoke(withTarget(ctx, fmt.Sprintf("IBM390PS.CPC9.P%04d", i)), &bcpiiv1.InvokeRequest{
					Method: "POST", Uri: fmt.Sprintf("/api/partitions/00000000-0000-4000-8000-%012d/operations/start", i+1),
					TargetName: fmt.Sprintf("IBM390PS.CPC9.P%04d", i),
				})
				cancel()
				if err != nil || r.HttpStatus != 202 {
					t.Errorf("start %d: %v %v", i, r, err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitClaims(t, srv.Client(t), int64(n))
	before := jobQueries(t, rs)
	start := time.Now()
	time.Sleep(time.Duration(intervals) * poll) // the measurement window itself
	after := jobQueries(t, rs)
	return float64(after-before) / (float64(time.Since(start)) / float64(poll))
}

// TestReplicasPollEachJobOnce: with three replicas, the upstream is polled
// at most once per running job per interval (with the ±10% jitter), not
// three times. A loaded machine polls less often, never more, so only the
// upper bound is sharp; the lower one says the jobs are followed at all.
// BenchmarkReplicaPolls reports the figure.
func TestReplicasPollEachJobOnce(t *testing.T) {
	const n = 60
	got := pollsPerInterval(t, n, 200*time.Millisecond, 10)
	t.Logf("%d running jobs, 3 replicas: %.1f upstream polls per interval", n, got)
	if got < 0.2*n || got > 1.2*n {
		t.Errorf("%.1f upstream polls per interval for %d running jobs, want at most about %d (3 replicas polling each would be %d)", got, n, n, 3*n)
	}
}

// BenchmarkReplicaPolls follows 1,000 running jobs with three replicas
// and reports the upstream polls per poll interval (polls/interval), which
// must equal the number of running jobs, not three times it.
func BenchmarkReplicaPolls(b *testing.B) {
	for b.Loop() {
		got := pollsPerInterval(b, 1000, time.Second, 5)
		b.ReportMetric(got, "polls/interval")
		b.ReportMetric(1000, "jobs")
	}
}

// waitClaims waits, on an etcd watch of the claims, until n jobs are
// claimed, within waitLimit.
func waitClaims(t testing.TB, cli *clientv3.Client, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const claims = "/replicas/c/"
	resp, err := cli.Get(ctx, claims, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	count := resp.Count
	w := cli.Watch(ctx, claims, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for count != n {
		wr, ok := <-w
		if !ok || wr.Err() != nil {
			t.Fatalf("%d of %d jobs claimed within %v (%v)", count, n, waitLimit, wr.Err())
		}
		for _, ev := range wr.Events {
			switch {
			case ev.Type == clientv3.EventTypeDelete:
				count--
			case ev.IsCreate():
				count++
			}
		}
	}
}

var claimsRE = regexp.MustCompile(`(?m)^bcpii_upstream_job_claims_total\{how="(new|taken_over)"\} (\d+)`)

// TestAcceptingReplicaFollows: with no replica down, the replica that
// accepts a job claims it as it accepts it, so none is found by another
// replica's search for jobs without a follower: every claim is new, none
// taken over, and each job's follower is the replica that accepted it.
func TestAcceptingReplicaFollows(t *testing.T) {
	const n = 30
	srv := etcdtest.Start(t)
	up := startUpstream(t, manyPartitions(t, n))
	rs := startReplicas(t, up, srv, 3, 200*time.Millisecond, func(c *app.Config) { c.AdminAddr = "127.0.0.1:0" })
	clients := []*grpcClient{rs[0].grpc(t), rs[1].grpc(t), rs[2].grpc(t)}
	accepted := map[string]int{}
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		target := fmt.Sprintf("IBM390PS.CPC9.P%04d", i)
		r, err := clients[i%3].ops.Invoke(withTarget(ctx, target), &bcpiiv1.InvokeRequest{
			Method: "POST", Uri: fmt.Sprintf("/api/partitions/00000000-0000-4000-8000-%012d/operations/start", i+1), TargetName: target,
		})
		cancel()
		if err != nil || r.HttpStatus != 202 {
			t.Fatalf("start %d: %v %v", i, r, err)
		}
		accepted[strings.TrimPrefix(r.JobUri, "/api/jobs/")] = i % 3
	}
	waitClaims(t, srv.Client(t), n)
	for id, at := range accepted {
		if got := follower(t, srv, rs, id); got != at {
			t.Errorf("job %s accepted by replica %d is followed by %d", id, at, got)
		}
	}
	var newClaims, takenOver int64
	for _, r := range rs {
		resp, err := (&http.Client{Timeout: waitLimit}).Get("http://" + r.addrs.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, m := range claimsRE.FindAllSubmatch(body, -1) {
			v, _ := strconv.ParseInt(string(m[2]), 10, 64)
			if string(m[1]) == "new" {
				newClaims += v
			} else {
				takenOver += v
			}
		}
	}
	if newClaims != n || takenOver != 0 {
		t.Errorf("claims: %d new, %d taken over; want %d new, none taken over", newClaims, takenOver, n)
	}
}
