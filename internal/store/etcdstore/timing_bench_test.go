package etcdstore_test

import (
	"context"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// BenchmarkNotOwnedVersusMissing measures Query Job Status in the registry
// over the etcd store for a job id that names no job and for another
// partition's job. Both must cost the same: one transaction compares the
// caller's owner-index entry before it reads the job. Compare the medians
// of -count 5.
func BenchmarkNotOwnedVersusMissing(b *testing.B) {
	srv := etcdtest.Start(b)
	reg, err := jobs.New(jobs.Config{Store: open(b, srv)})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	theirs, err := reg.Create(ctx, jobs.Spec{
		Owner:     jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP2"},
		Target:    "IBM390PS.CPC1.LP2",
		Operation: "POST /api/logical-partitions/732b5207-24d8-4994-81dc-c9f05bcd2917/operations/activate",
	})
	if err != nil {
		b.Fatal(err)
	}
	me := jobs.Caller{Owner: jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}}
	for _, c := range []struct{ name, id string }{{"missing", jobs.NewID()}, {"other-owner", theirs.ID}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := reg.Get(ctx, me, c.id); err == nil {
					b.Fatal("another's job was found")
				}
			}
		})
	}
}
