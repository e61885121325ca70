package upstream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// startedJob is a job the load started, and the target it acts on.
type startedJob struct{ id, target string }

// memberLoad is a bounded load of starts and queries on three replicas,
// and what it saw.
type memberLoad struct {
	t       *testing.T
	clients []*grpcClient
	n       int
	next    atomic.Int64

	mu       sync.Mutex
	accepted []startedJob
	ended    map[string]time.Time // when an answer first showed the job ended
	answers  int
	failures []string // 5xx answers and errors without the HMC detail
	regress  []string // a job shown running after an answer showed it ended
}

func (l *memberLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(time.Now().Format("15:04:05.000 ")+format, args...))
}

// judge records err, an answer of an operation: any error is a failure
// here, where every request is valid and nothing is busy.
func (l *memberLoad) judge(what string, err error) bool {
	if err == nil {
		l.mu.Lock()
		l.answers++
		l.mu.Unlock()
		return true
	}
	d, ok := rpctypes.HMCDetail(err)
	l.fail("%s: %v (HMC %d.%d, detail %v)", what, status.Code(err), d.GetHttpStatus(), d.GetReason(), ok)
	return false
}

// work starts the next partition at one replica, then queries a job
// started earlier at another, until stop.
func (l *memberLoad) work(w int, stop <-chan struct{}) {
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		if i := int(l.next.Add(1) - 1); i < l.n {
			target := fmt.Sprintf("IBM390PS.CPC9.P%04d", i)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			r, err := l.clients[(i+w)%3].ops.Invoke(withTarget(ctx, target), &bcpiiv1.InvokeRequest{
				Method: "POST", Uri: fmt.Sprintf("/api/partitions/00000000-0000-4000-8000-%012d/operations/start", i+1), TargetName: target,
			})
			cancel()
			if l.judge("start "+target, err) {
				l.mu.Lock()
				l.accepted = append(l.accepted, startedJob{r.JobUri[len("/api/jobs/"):], target})
				l.mu.Unlock()
			}
		}
		l.mu.Lock()
		if len(l.accepted) == 0 {
			l.mu.Unlock()
			continue
		}
		j := l.accepted[rand.IntN(len(l.accepted))]
		id := j.id
		l.mu.Unlock()
		asked := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		r, err := l.clients[(w+k)%3].jobs.GetJob(withTarget(ctx, j.target), &bcpiiv1.GetJobRequest{JobId: id})
		cancel()
		if !l.judge("get "+id, err) {
			continue
		}
		l.mu.Lock()
		seen, wasEnded := l.ended[id]
		switch {
		case r.Job.GetStatus() == bcpiiv1.JobStatus_JOB_STATUS_COMPLETE && !wasEnded:
			l.ended[id] = time.Now()
		case r.Job.GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE && wasEnded && seen.Before(asked):
			l.regress = append(l.regress, fmt.Sprintf("job %s answered %v after it was shown complete", id, r.Job.GetStatus()))
		}
		l.mu.Unlock()
	}
}

// TestEtcdMemberLoss runs three replicas on a three-member etcd cluster
// under a bounded load of starts and queries, while the upstream's jobs
// end. It kills the etcd leader (a crash: no hand-over), brings it back,
// then kills a follower and brings it back. A majority lives throughout,
// so callers see none of it: no 5xx, no error at all, no job that goes
// back from ended to running; and every accepted job ends, as its
// operation did.
func TestEtcdMemberLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("a 15-second load test")
	}
	const n = 400
	cluster := etcdtest.StartCluster(t, 3)
	up := startUpstream(t, manyPartitions(t, n))
	rs := startReplicas(t, up, nil, 3, 100*time.Millisecond, func(c *app.Config) {
		c.Etcd.Endpoints = cluster.Endpoints()
		c.Etcd.RequestTimeout = 5 * time.Second
	})
	l := &memberLoad{t: t, n: n, ended: map[string]time.Time{},
		clients: []*grpcClient{rs[0].grpc(t), rs[1].grpc(t), rs[2].grpc(t)}}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() { l.work(w, stop) })
	}
	// The upstream's jobs run an hour of its fake clock: 10 s every 20 ms
	// ends each about 7 s after it started, and the upstream keeps an
	// ended job (4 hours) longer than the test runs.
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				up.clock.Advance(10 * time.Second)
			}
		}
	})

	phase := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-t.Context().Done():
		}
	}
	phase(2 * time.Second)
	leader := cluster.Leader()
	if leader < 0 {
		t.Fatal("the cluster has no leader")
	}
	t.Logf("%s: killing the leader, member %d", time.Now().Format("15:04:05.000"), leader)
	cluster.Members[leader].Kill()
	phase(4 * time.Second)
	cluster.Members[leader].Restart()
	phase(2 * time.Second)
	follower := (cluster.Leader() + 1) % 3
	t.Logf("%s: killing a follower, member %d", time.Now().Format("15:04:05.000"), follower)
	cluster.Members[follower].Kill()
	phase(4 * time.Second)
	cluster.Members[follower].Restart()
	phase(2 * time.Second)
	close(stop)
	wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d answers, %d starts accepted, %d failures", l.answers, len(l.accepted), len(l.failures))
	for _, f := range l.failures {
		t.Errorf("a caller saw the member loss: %s", f)
	}
	for _, r := range l.regress {
		t.Error(r)
	}
	if len(l.accepted) < 100 {
		t.Errorf("only %d starts accepted: the load was too light to tell", len(l.accepted))
	}
	// Every accepted job ends, as its operation did.
	up.clock.Advance(2 * time.Hour)
	for i, j := range l.accepted {
		id := j.id
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		r, err := l.clients[i%3].jobs.WaitJob(withTarget(ctx, j.target), &bcpiiv1.WaitJobRequest{JobId: id})
		cancel()
		if err != nil || r.GetJob().GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || r.GetJob().GetJobStatusCode() != 204 {
			t.Errorf("job %s: %v, %v; want complete 204", id, r.GetJob(), err)
		}
	}
}
