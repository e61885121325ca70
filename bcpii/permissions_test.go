package bcpii

import (
	"errors"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

func TestPermit(t *testing.T) {
	name := func(s string) TargetName {
		t.Helper()
		tn, err := ParseTargetName(s)
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	lp1, lp2, lp3, cpc := name("N.C.LP1"), name("N.C.LP2"), name("N.C.LP3"), name("N.C")
	stranger := name("N.C.LP9")
	perms := map[TargetName]Permissions{
		lp1: AllowAll,
		lp2: {Send: true, Accept: AcceptListed, From: []TargetName{lp1}},
		lp3: {Send: false, Accept: AcceptNone},
	}
	lookup := func(t TargetName) (Permissions, bool) { p, ok := perms[t]; return p, ok }
	tests := []struct {
		requester, target TargetName
		ok                bool
	}{
		{lp1, lp1, true}, {lp1, lp2, true}, {lp1, lp3, false}, {lp1, cpc, true}, {lp1, TargetName{}, true},
		{lp2, lp1, true}, {lp2, lp2, true}, {lp2, lp3, false}, {lp2, cpc, true},
		// LP3 may not send: only its own target.
		{lp3, lp3, true}, {lp3, lp1, false}, {lp3, lp2, false}, {lp3, cpc, false}, {lp3, TargetName{}, false},
		// A partition no profile describes is not restricted, but LP2
		// accepts LP1 only.
		{stranger, lp1, true}, {stranger, lp2, false}, {stranger, cpc, true},
		{lp1, stranger, true},
	}
	for _, tt := range tests {
		err := Permit(tt.requester, tt.target, lookup)
		if tt.ok != (err == nil) {
			t.Errorf("Permit(%v, %v) = %v, want ok %v", tt.requester, tt.target, err, tt.ok)
		}
		if err != nil {
			var e *hmcerr.Error
			if !errors.As(err, &e) || e.HTTPStatus != 403 || e.Reason != 1 || !e.Backend {
				t.Errorf("Permit(%v, %v) = %v, want 403.1 raised by the SE", tt.requester, tt.target, err)
			}
		}
	}
}
