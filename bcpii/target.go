package bcpii

import (
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/targetname"
)

// TargetName names what a BCPii request acts on: a CPC (NETID.NAU) or a
// logical partition (NETID.NAU.LPARNAME). The zero value names nothing; the
// only way to get another value is ParseTargetName (or UnmarshalText), so a
// non-zero TargetName is always well formed. It is kept as its name in
// upper case, which makes == and Equal the case-insensitive comparison the
// spec asks for and lets TargetName be a map key; the parts are read off
// it, so parsing a name already in upper case allocates nothing.
type TargetName struct {
	name string // NETID.NAU or NETID.NAU.LPARNAME, upper case
}

// ParseTargetName parses s, accepting lower case. Its errors say which part
// is wrong and why; they quote the input, which is the caller's own and
// holds no secret.
func ParseTargetName(s string) (TargetName, error) {
	if err := targetname.Check(s); err != nil {
		return TargetName{}, err
	}
	return TargetName{name: upper(s)}, nil
}

func isLetter(c byte) bool { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// upper folds ASCII only: strings.ToUpper would also fold characters such
// as the Kelvin sign into ASCII letters, which parsing has already refused.
func upper(s string) string {
	i := 0
	for i < len(s) && !('a' <= s[i] && s[i] <= 'z') {
		i++
	}
	if i == len(s) {
		return s // already upper case: no copy
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// quote quotes caller input for an error message, cut short.
func quote(s string) string { return targetname.Quote(s) }

// String returns the name in upper case, or "" for the zero value.
func (t TargetName) String() string { return t.name }

// parts returns the network id, the NAU and the LPAR name ("" for a CPC).
func (t TargetName) parts() (netID, nau, lpar string) {
	netID, rest, _ := strings.Cut(t.name, ".")
	nau, lpar, _ = strings.Cut(rest, ".")
	return netID, nau, lpar
}

// IsZero reports whether t names nothing.
func (t TargetName) IsZero() bool { return t == TargetName{} }

// IsCPC reports whether t names a CPC rather than a logical partition.
func (t TargetName) IsCPC() bool { return !t.IsZero() && t.LPARName() == "" }

// CPC returns the CPC that t is or belongs to; the zero value for the zero
// value.
func (t TargetName) CPC() TargetName {
	netID, nau, lpar := t.parts()
	if lpar == "" {
		return t
	}
	return TargetName{name: t.name[:len(netID)+1+len(nau)]}
}

// Equal reports whether t and o name the same object.
func (t TargetName) Equal(o TargetName) bool { return t == o }

// NetID returns the network id, in upper case.
func (t TargetName) NetID() string { netID, _, _ := t.parts(); return netID }

// NAU returns the network addressable unit of the CPC, in upper case.
func (t TargetName) NAU() string { _, nau, _ := t.parts(); return nau }

// LPARName returns the logical partition's name in upper case, or "" for a
// CPC.
func (t TargetName) LPARName() string { _, _, lpar := t.parts(); return lpar }

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
