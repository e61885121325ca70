package etcdstore

import (
	"fmt"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// The job cache stays within its bounds of jobs and bytes, and its count
// of bytes is the sum of what it holds.
func TestJobCacheBounds(t *testing.T) {
	var c jobCache
	c.reset(true, 0)
	owner := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	for i := range 200 {
		c.put(jobs.Job{ID: fmt.Sprintf("big-%d", i), Owner: owner, Revision: 1, Results: make([]byte, 1<<20)}, 1)
	}
	for i := range maxCachedJobs + 100 {
		c.put(jobs.Job{ID: fmt.Sprintf("small-%d", i), Owner: owner, Revision: 1}, 1)
	}
	c.wrote("small-7", 2)
	sum := 0
	for _, j := range c.jobs {
		sum += jobSize(j)
	}
	if len(c.jobs) > maxCachedJobs || c.bytes > maxCachedBytes || c.bytes != sum {
		t.Fatalf("%d jobs, %d bytes counted, %d held; bounds %d and %d", len(c.jobs), c.bytes, sum, maxCachedJobs, maxCachedBytes)
	}
}
