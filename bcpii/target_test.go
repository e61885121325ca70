package bcpii

import (
	"strings"
	"testing"
)

func TestParseTargetName(t *testing.T) {
	tests := []struct {
		rule    string
		in      string
		want    string // String() when accepted
		wantErr string // a substring of the error when refused
	}{
		{rule: "CPC is NETID.NAU", in: "IBM390PS.CPC1", want: "IBM390PS.CPC1"},
		{rule: "partition is NETID.NAU.LPARNAME", in: "IBM390PS.CPC1.LP1", want: "IBM390PS.CPC1.LP1"},
		{rule: "lower case is accepted and printed upper case", in: "ibm390ps.cpc1.lp1", want: "IBM390PS.CPC1.LP1"},
		{rule: "mixed case", in: "Ibm390Ps.cPc1.Lp1", want: "IBM390PS.CPC1.LP1"},
		{rule: "SNA names may use @ # $", in: "@NET#$.$NAU@#.LPAR", want: "@NET#$.$NAU@#.LPAR"},
		{rule: "SNA names may start with @ # $", in: "#A.@B", want: "#A.@B"},
		{rule: "parts of 1 character", in: "A.B.C", want: "A.B.C"},
		{rule: "parts of 8 characters", in: "ABCDEFGH.ABCDEFG1.ABCDEFG2", want: "ABCDEFGH.ABCDEFG1.ABCDEFG2"},
		{rule: "LPARNAME may hold digits after the first letter", in: "N.C.L12345", want: "N.C.L12345"},

		{rule: "empty", in: "", wantErr: `target name "": is empty`},
		{rule: "NETID alone", in: "IBM390PS", wantErr: "has no NAU"},
		{rule: "extra dot at the end", in: "IBM390PS.CPC1.LP1.", wantErr: "has 4 dot-separated parts"},
		{rule: "four parts", in: "A.B.C.D", wantErr: "has 4 dot-separated parts"},
		{rule: "empty NETID", in: ".CPC1", wantErr: "NETID is empty"},
		{rule: "empty NAU", in: "IBM390PS.", wantErr: "NAU is empty"},
		{rule: "empty NAU between dots", in: "IBM390PS..LP1", wantErr: "NAU is empty"},
		{rule: "empty LPARNAME", in: "IBM390PS.CPC1.", wantErr: "LPARNAME is empty"},
		{rule: "NETID too long", in: "ABCDEFGHI.CPC1", wantErr: `NETID "ABCDEFGHI" is longer than 8 characters`},
		{rule: "NAU too long", in: "X.ABCDEFGHI", wantErr: `target name "X.ABCDEFGHI": NAU "ABCDEFGHI" is longer than 8 characters`},
		{rule: "LPARNAME too long", in: "X.Y.ABCDEFGHI", wantErr: `LPARNAME "ABCDEFGHI" is longer than 8 characters`},
		{rule: "NETID starts with a digit", in: "1BM390PS.CPC1", wantErr: `NETID "1BM390PS" starts with a digit`},
		{rule: "NAU starts with a digit", in: "IBM390PS.1CPC", wantErr: `NAU "1CPC" starts with a digit`},
		{rule: "LPARNAME starts with a digit", in: "IBM390PS.CPC1.1LP", wantErr: `LPARNAME "1LP" does not start with a letter`},
		{rule: "LPARNAME does not allow @", in: "IBM390PS.CPC1.LP@", wantErr: `LPARNAME "LP@" contains '@', which is not one of A-Z 0-9`},
		{rule: "LPARNAME does not allow #", in: "IBM390PS.CPC1.#LP", wantErr: `contains '#'`},
		{rule: "LPARNAME does not allow $", in: "IBM390PS.CPC1.$", wantErr: `contains '$'`},
		{rule: "SNA names allow no other punctuation", in: "IBM-390.CPC1", wantErr: `NETID "IBM-390" contains '-', which is not one of A-Z 0-9 @ # $`},
		{rule: "underscore", in: "IBM390PS.CPC_1", wantErr: `NAU "CPC_1" contains '_'`},
		{rule: "leading space", in: " IBM390PS.CPC1", wantErr: "leading or trailing white space"},
		{rule: "trailing space", in: "IBM390PS.CPC1 ", wantErr: "leading or trailing white space"},
		{rule: "trailing newline", in: "IBM390PS.CPC1\n", wantErr: "leading or trailing white space"},
		{rule: "inner space", in: "IBM390PS.CPC 1", wantErr: `contains ' '`},
		{rule: "control character", in: "IBM390PS.CPC\x001", wantErr: `contains '\x00'`},
		{rule: "non-ASCII letter", in: "IBM390PS.CPCÄ", wantErr: "non-ASCII"},
		{rule: "Kelvin sign, which Unicode folds to K", in: "IBM390PS.\u212APC1", wantErr: "non-ASCII"},
		{rule: "invalid UTF-8", in: "IBM390PS.CPC\xff", wantErr: "non-ASCII"},
		{rule: "long input is quoted short", in: strings.Repeat("A", 1000), wantErr: `"` + strings.Repeat("A", 64) + `"...: has no NAU`},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got, err := ParseTargetName(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseTargetName(%q) = %v, want an error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTargetName(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
				}
				if !got.IsZero() {
					t.Fatalf("ParseTargetName(%q) returned %v with its error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTargetName(%q): %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Fatalf("ParseTargetName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTargetNameMethods(t *testing.T) {
	lp := mustTarget(t, "ibm390ps.cpc1.lp1")
	cpc := mustTarget(t, "IBM390PS.CPC1")

	if lp.IsCPC() || !cpc.IsCPC() {
		t.Errorf("IsCPC: partition %v, CPC %v", lp.IsCPC(), cpc.IsCPC())
	}
	if !lp.CPC().Equal(cpc) || lp.CPC() != cpc {
		t.Errorf("%v.CPC() = %v, want %v", lp, lp.CPC(), cpc)
	}
	if !cpc.CPC().Equal(cpc) {
		t.Errorf("%v.CPC() = %v, want itself", cpc, cpc.CPC())
	}
	if !lp.Equal(mustTarget(t, "IBM390PS.CPC1.LP1")) {
		t.Error("names differing only in case are not Equal")
	}
	if lp.Equal(cpc) || lp.Equal(mustTarget(t, "IBM390PS.CPC1.LP2")) {
		t.Error("different names are Equal")
	}
	if lp.NetID() != "IBM390PS" || lp.NAU() != "CPC1" || lp.LPARName() != "LP1" || cpc.LPARName() != "" {
		t.Errorf("parts of %v: %q %q %q", lp, lp.NetID(), lp.NAU(), lp.LPARName())
	}

	var zero TargetName
	if !zero.IsZero() || lp.IsZero() || cpc.IsZero() {
		t.Error("IsZero is wrong")
	}
	if zero.IsCPC() || !zero.CPC().IsZero() || zero.String() != "" {
		t.Errorf("zero value: IsCPC %v, CPC %v, String %q", zero.IsCPC(), zero.CPC(), zero.String())
	}

	text, err := lp.MarshalText()
	if err != nil || string(text) != "IBM390PS.CPC1.LP1" {
		t.Fatalf("MarshalText = %q, %v", text, err)
	}
	var back TargetName
	if err := back.UnmarshalText([]byte("ibm390ps.cpc1.lp1")); err != nil || back != lp {
		t.Fatalf("UnmarshalText = %v, %v", back, err)
	}
	if err := back.UnmarshalText([]byte("bad")); err == nil || back != lp {
		t.Fatalf("UnmarshalText of a bad name = %v, %v; want an error and no change", back, err)
	}
}

func mustTarget(t testing.TB, s string) TargetName {
	t.Helper()
	n, err := ParseTargetName(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func FuzzParseTargetName(f *testing.F) {
	for _, s := range []string{
		"IBM390PS.CPC1", "IBM390PS.CPC1.LP1", "ibm390ps.cpc1.lp1", "@#$.$#@.A1", "A.B", "",
		".", "..", "A..B", "A.B.C.D", "1A.B", "A.B.1C", "A.B.C ", "ABCDEFGHI.B", "A.\u212A", "A.B\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseTargetName(s)
		if err != nil {
			if !n.IsZero() {
				t.Fatalf("ParseTargetName(%q) returned %v with error %v", s, n, err)
			}
			if err.Error() == "" {
				t.Fatalf("ParseTargetName(%q): empty error", s)
			}
			return
		}
		str := n.String()
		if str != strings.ToUpper(str) {
			t.Fatalf("ParseTargetName(%q).String() = %q is not upper case", s, str)
		}
		if len(str) != len(s) || !strings.EqualFold(str, s) {
			t.Fatalf("ParseTargetName(%q).String() = %q, want the input in upper case", s, str)
		}
		again, err := ParseTargetName(str)
		if err != nil {
			t.Fatalf("ParseTargetName(%q) accepted, but its String %q does not re-parse: %v", s, str, err)
		}
		if again != n || !again.Equal(n) {
			t.Fatalf("round trip of %q: %v != %v", s, again, n)
		}
		joined := n.NetID() + "." + n.NAU()
		if !n.IsCPC() {
			joined += "." + n.LPARName()
		}
		if joined != str || n.CPC().String() != n.NetID()+"."+n.NAU() {
			t.Fatalf("the parts of %v join to %q; its CPC is %v", n, joined, n.CPC())
		}
		if n.IsZero() || n.IsCPC() == (n.LPARName() != "") || !n.CPC().IsCPC() {
			t.Fatalf("inconsistent %v: IsZero %v IsCPC %v CPC %v", n, n.IsZero(), n.IsCPC(), n.CPC())
		}
	})
}
