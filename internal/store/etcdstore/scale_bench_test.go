package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/scaletest"
)

// BenchmarkScale runs the large-store benchmark (scaletest) on one
// embedded etcd server holding, under two prefixes, 1,000 and 1,000,000
// ended jobs (BCPII_SCALE_JOBS), written through Create by 64 writers at
// once, as the gateway writes them. Beside what scaletest reports, it
// reports how long the fill took, and the time a new client, New,
// jobs.New and a first Get take on the large prefix; the sweep empties the
// large prefix for at most BCPII_SCALE_SWEEP (3m). Run it with
// -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	large := scaletest.Large()
	for range b.N {
		endpoint, cli := scaleEtcd(b)
		stores := map[int]*etcdstore.Store{}
		for _, n := range []int{1000, large} {
			s, err := etcdstore.New(b.Context(), etcdstore.Config{Client: cli, Prefix: fmt.Sprintf("/scale/%d/", n)})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			fill(b, s, n)
			b.ReportMetric(time.Since(start).Seconds(), fmt.Sprintf("fill-s/%d", n))
			scaletest.Reads(b, s, n, nil)
			scaletest.RPC(b, s, n)
			stores[n] = s
		}
		b.ReportMetric(float64(openLarge(b, endpoint, large).Milliseconds()), "open-ms")
		scaletest.Sweep(b, stores[large], large, scaletest.SweepBudget(3*time.Minute))
	}
}

// scaleEtcd starts the benchmark's etcd: embedded in this process, or,
// with BCPII_SCALE_ETCD=process, Debian's etcd-server as a process of its
// own, as a gateway's etcd runs, whose collections and disk writes are
// then not this process's (it keeps etcd's defaults but for the quota a
// million jobs need, and syncs its writes to disk; BCPII_SCALE_ETCD_FLAGS
// gives it more flags, BCPII_SCALE_ETCD_ENV more environment, such as
// GOGC=400).
func scaleEtcd(b *testing.B) (string, *clientv3.Client) {
	if os.Getenv("BCPII_SCALE_ETCD") == "process" {
		flags := append([]string{"--quota-backend-bytes", "8589934592"}, strings.Fields(os.Getenv("BCPII_SCALE_ETCD_FLAGS"))...)
		env := strings.Fields(os.Getenv("BCPII_SCALE_ETCD_ENV"))
		m := etcdtest.StartClusterEnv(b, 1, "127.0.0.1", env, flags...).Members[0]
		cli := m.Client()
		b.Cleanup(func() { cli.Close() })
		return m.Endpoint(), cli
	}
	srv := etcdtest.Start(b)
	return srv.Endpoint(), srv.Client(b)
}

// fill creates the n jobs of scaletest in s, 64 at a time.
func fill(b *testing.B, s *etcdstore.Store, n int) {
	owners := scaletest.Owners(n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && failed.Load() == nil; i = int(next.Add(1) - 1) {
				if _, err := s.Create(context.Background(), scaletest.Job(i, owners)); err != nil {
					failed.Store(&err)
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("fill: %v", *err)
	}
}

// openLarge returns how long a gateway's start takes on the prefix of n
// jobs: a new client, New, a registry with its look for jobs not ended,
// and a first read.
func openLarge(b *testing.B, endpoint string, n int) time.Duration {
	start := time.Now()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	s, err := etcdstore.New(b.Context(), etcdstore.Config{Client: cli, Prefix: fmt.Sprintf("/scale/%d/", n)})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := jobs.New(jobs.Config{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	if _, err := s.Get(context.Background(), scaletest.ID(0)); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
