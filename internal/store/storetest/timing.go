package storetest

import (
	"context"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// BenchNotOwnedVersusMissing measures Query Job Status in a registry over
// st for a job id that names no job ("missing") and for another
// partition's job ("other-owner"). A store's GetOwned must make both cost
// the same, so that no caller can tell another's job from no job; compare
// the medians of -count 5.
func BenchNotOwnedVersusMissing(b *testing.B, st jobs.Store) {
	reg, err := jobs.New(jobs.Config{Store: st})
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
