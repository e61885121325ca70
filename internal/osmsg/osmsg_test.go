package osmsg

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// TestHub: a channel is its owner's, one per owner and partition; a
// partition's messages reach its listeners until they stop, and no one
// else's.
func TestHub(t *testing.T) {
	h := New()
	alice := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	bob := jobs.Owner{Kind: jobs.UserOwner, Name: "bob"}
	a1 := h.Open(alice, "/api/logical-partitions/l1")
	if again := h.Open(alice, "/api/logical-partitions/l1"); again != a1 || !strings.HasPrefix(a1, "bcpii-gateway.os.") {
		t.Fatalf("topics %q, %q", a1, again)
	}
	b1 := h.Open(bob, "/api/logical-partitions/l1")
	if b1 == a1 {
		t.Fatal("two owners share a topic")
	}
	if c, ok := h.Lookup(a1); !ok || c.Owner != alice || c.Object != "/api/logical-partitions/l1" {
		t.Fatalf("Lookup(%s) = %+v, %v", a1, c, ok)
	}
	if _, ok := h.Lookup("bcpii-gateway.os.nope"); ok {
		t.Fatal("an unknown topic was found")
	}
	var got []string
	stop := h.Listen("/api/logical-partitions/l1", func(ms []Message) {
		for _, m := range ms {
			got = append(got, m.Text)
		}
	})
	h.Publish("/api/logical-partitions/l2", []Message{{Text: "other"}})
	h.Publish("/api/logical-partitions/l1", []Message{{Text: "one"}, {Text: "two"}})
	stop()
	h.Publish("/api/logical-partitions/l1", []Message{{Text: "after"}})
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("delivered %q", got)
	}
	for i := range maxChannels + 10 {
		h.Open(jobs.Owner{Kind: jobs.UserOwner, Name: strconv.Itoa(i)}, "/api/logical-partitions/x")
	}
	if len(h.channels) != maxChannels || len(h.order) != maxChannels {
		t.Fatalf("%d channels kept, %d in order", len(h.channels), len(h.order))
	}
	if _, ok := h.Lookup(a1); ok {
		t.Fatal("the oldest channel was kept past the bound")
	}
}
