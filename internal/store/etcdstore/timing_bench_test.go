package etcdstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/storetest"
)

// BenchmarkNotOwnedVersusMissing: over the etcd store, one transaction
// compares the caller's owner-index entry before it reads the job.
func BenchmarkNotOwnedVersusMissing(b *testing.B) {
	storetest.BenchNotOwnedVersusMissing(b, open(b, etcdtest.Start(b)))
}

// onFollower starts a three-member cluster of Debian etcd processes and
// opens a store under prefix through a follower of it.
func onFollower(b *testing.B, prefix string) *etcdstore.Store {
	c := etcdtest.StartCluster(b, 3)
	follower := c.Members[(c.Leader()+1)%len(c.Members)]
	cli := follower.Client()
	b.Cleanup(func() { _ = cli.Close() })
	st, err := etcdstore.New(b.Context(), etcdstore.Config{Client: cli, Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkListOnCluster lists a page of 100 jobs through a follower of
// a three-member cluster of Debian etcd processes, as a replica that
// talks to a follower does. It reports the p50 and p99 of a List.
func BenchmarkListOnCluster(b *testing.B) {
	st := onFollower(b, "/list/")
	owner := jobs.Owner{Kind: "partition", Name: "LP1"}
	for i := range 100 {
		running(b, st, owner, fmt.Sprintf("job-%03d", i))
	}
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		page, err := st.List(b.Context(), jobs.ListQuery{Owner: owner, Limit: 100})
		took = append(took, time.Since(start))
		if err != nil || len(page) != 100 {
			b.Fatalf("List: %d jobs, %v", len(page), err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-us")
}

// BenchmarkUpdateOnCluster updates a job through a follower of a
// three-member cluster of Debian etcd processes, as a replica that talks
// to a follower writes a job's progress and end. It reports the p50 and
// p99 of an Update.
func BenchmarkUpdateOnCluster(b *testing.B) {
	st := onFollower(b, "/update/")
	j := running(b, st, jobs.Owner{Kind: "partition", Name: "LP1"}, "job-update")
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		j.Results = fmt.Appendf(nil, `{"step":%d}`, i)
		start := time.Now()
		next, err := st.Update(b.Context(), j)
		took = append(took, time.Since(start))
		j = next
		if err != nil {
			b.Fatalf("Update: %v", err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-us")
}
