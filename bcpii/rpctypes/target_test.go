package rpctypes_test

import (
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
)

var targetNames = []string{
	"IBM390PS.CPC1", "IBM390PS.CPC1.LP2", "ibm390ps.cpc1.lp2", "A@#$.B$.C9",
	"", "IBM390PS", "IBM390PS..LP2", "IBM390PS.CPC1.LP2.X", " IBM390PS.CPC1", "IBM390PS.CPC1.LP-2",
	"IBM390PS.CPC1.2LP", "1BM.CPC1", "IBM390PS.CPC1.ABCDEFGHI", "IBM390PSX.CPC1", "IBM.CPC1.L\u00c9",
	"IBM390PS.CPC1.LP@", strings.Repeat("A.", 40),
}

// The client's check answers as the gateway's parser does, message for
// message.
func TestCheckTargetNameAgreesWithTheGateway(t *testing.T) {
	for _, s := range targetNames {
		got := rpctypes.CheckTargetName(s)
		_, want := bcpii.ParseTargetName(s)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Errorf("%q: CheckTargetName %v, ParseTargetName %v", s, got, want)
		}
	}
}

func FuzzCheckTargetName(f *testing.F) {
	for _, s := range targetNames {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := rpctypes.CheckTargetName(s)
		_, want := bcpii.ParseTargetName(s)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Errorf("%q: CheckTargetName %v, ParseTargetName %v", s, got, want)
		}
	})
}
