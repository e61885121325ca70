package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/store/boltstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/storetest"
)

// BenchmarkNotOwnedVersusMissing: over the bbolt store (the default), the
// owner is compared before the record is decoded.
func BenchmarkNotOwnedVersusMissing(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "jobs.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	storetest.BenchNotOwnedVersusMissing(b, st)
}
