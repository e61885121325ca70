package bcpii

import (
	"fmt"
	"strings"
)

// maxNamePart is the length limit of every part of a target name: SNA names
// and LPAR names are at most 8 characters.
const maxNamePart = 8

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
	fail := func(format string, args ...any) (TargetName, error) {
		return TargetName{}, fmt.Errorf("target name %s: %s", quote(s), fmt.Sprintf(format, args...))
	}
	if s == "" {
		return fail("is empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return fail("contains a non-ASCII character")
		}
	}
	if strings.TrimSpace(s) != s {
		return fail("has leading or trailing white space")
	}
	parts := strings.Split(s, ".")
	switch {
	case len(parts) < 2:
		return fail("has no NAU: want NETID.NAU or NETID.NAU.LPARNAME")
	case len(parts) > 3:
		return fail("has %d dot-separated parts: want NETID.NAU or NETID.NAU.LPARNAME", len(parts))
	}
	names := [...]string{"NETID", "NAU", "LPARNAME"}
	for i, p := range parts {
		if msg := checkPart(p, i == 2); msg != "" {
			return fail("%s %s", names[i], msg)
		}
	}
	t := TargetName{netID: upper(parts[0]), nau: upper(parts[1])}
	if len(parts) == 3 {
		t.lpar = upper(parts[2])
	}
	return t, nil
}

// checkPart returns what is wrong with one part, or "". An SNA name (NETID,
// NAU) may use @ # $ and may not start with a digit; an LPAR name is
// letters and digits and starts with a letter.
func checkPart(p string, lpar bool) string {
	if p == "" {
		return "is empty"
	}
	if len(p) > maxNamePart {
		return fmt.Sprintf("%q is longer than %d characters", p, maxNamePart)
	}
	allowed := "A-Z 0-9 @ # $"
	if lpar {
		allowed = "A-Z 0-9"
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		ok := isLetter(c) || isDigit(c) || (!lpar && (c == '@' || c == '#' || c == '$'))
		if !ok {
			return fmt.Sprintf("%q contains %q, which is not one of %s", p, rune(c), allowed)
		}
	}
	switch {
	case lpar && !isLetter(p[0]):
		return fmt.Sprintf("%q does not start with a letter", p)
	case isDigit(p[0]):
		return fmt.Sprintf("%q starts with a digit", p)
	}
	return ""
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

// quote quotes caller input for an error message, cut short so that a huge
// header cannot make a huge message or log line.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

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
func ValidLPARName(s string) bool { return checkPart(s, true) == "" }
