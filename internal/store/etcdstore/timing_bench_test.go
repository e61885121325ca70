package etcdstore_test

import (
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/storetest"
)

// BenchmarkNotOwnedVersusMissing: over the etcd store, one transaction
// compares the caller's owner-index entry before it reads the job.
func BenchmarkNotOwnedVersusMissing(b *testing.B) {
	storetest.BenchNotOwnedVersusMissing(b, open(b, etcdtest.Start(b)))
}
