package bcpii

import (
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/targetname"
)

// TargetName names what a BCPii request acts on: a CPC (NETID.NAU) or a
// logical partition (NETID.NAU.LPARNAME). The zero value names nothing; the
// only way to get another value is ParseTargetName (or UnmarshalText), so a
// non-zero TargetName is always well formed. Parts are kept in upper case,
// which makes == and Equal the case-insensitive comparison the spec asks for
// and lets TargetName be a map key.
type TargetName struct {
	netID, nau, lpar string
}

// ParseTargetName parses s, accepting lower case. Its errors say which part
// is wrong and why; they quote the input, which is the caller's own and
// holds no secret.
func ParseTargetName(s string) (TargetName, error) {
	if err := targetname.Check(s); err != nil {
		return TargetName{}, err
	}
	parts := strings.Split(s, ".")
	t := TargetName{netID: upper(parts[0]), nau: upper(parts[1])}
	if len(parts) == 3 {
		t.lpar = upper(parts[2])
	}
	return t, nil
}

func isLetter(c byte) bool { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// upper folds ASCII only: strings.ToUpper would also fold characters such
// as the Kelvin sign into ASCII letters, which parsing has already refused.
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// quote quotes caller input for an error message, cut short.
func quote(s string) string { return targetname.Quote(s) }

// String returns the name in upper case, or "" for the zero value.
func (t TargetName) String() string {
	switch {
	case t.IsZero():
		return ""
	case t.lpar == "":
		return t.netID + "." + t.nau
	default:
		return t.netID + "." + t.nau + "." + t.lpar
	}
}

// IsZero reports whether t names nothing.
func (t TargetName) IsZero() bool { return t == TargetName{} }

// IsCPC reports whether t names a CPC rather than a logical partition.
func (t TargetName) IsCPC() bool { return !t.IsZero() && t.lpar == "" }

// CPC returns the CPC that t is or belongs to; the zero value for the zero
// value.
func (t TargetName) CPC() TargetName { return TargetName{netID: t.netID, nau: t.nau} }

// Equal reports whether t and o name the same object.
func (t TargetName) Equal(o TargetName) bool { return t == o }

// NetID returns the network id, in upper case.
func (t TargetName) NetID() string { return t.netID }

// NAU returns the network addressable unit of the CPC, in upper case.
func (t TargetName) NAU() string { return t.nau }

// LPARName returns the logical partition's name in upper case, or "" for a
// CPC.
func (t TargetName) LPARName() string { return t.lpar }

// MarshalText returns String, so that a TargetName can be a configuration
// value or a flag (flag.TextVar).
func (t TargetName) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses text with ParseTargetName.
func (t *TargetName) UnmarshalText(text []byte) error {
	p, err := ParseTargetName(string(text))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// ValidLPARName reports whether s can be the LPARNAME of a target name: 1
// to 8 characters A-Z 0-9 starting with a letter, in either case.
func ValidLPARName(s string) bool { return targetname.CheckPart(s, true) == "" }
