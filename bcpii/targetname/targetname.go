// Package targetname is the grammar of BCPii target names, the one the
// gateway and its clients share: NETID.NAU for a CPC, NETID.NAU.LPARNAME for
// a logical partition, where NETID and NAU are SNA names (1-8 of A-Z 0-9
// @ # $, not starting with a digit) and LPARNAME is 1-8 of A-Z 0-9 starting
// with a letter, lower case accepted. It depends on nothing, so that a
// client can check a name before it sends it and get the gateway's own
// message.
package targetname

import (
	"fmt"
	"strings"
)

// Check reports what is wrong with s as an X-API-Target-Name, a
// CPC (NETID.NAU) or a logical partition (NETID.NAU.LPARNAME), accepting
// lower case; nil if it is well formed. A client checks a target name it
// was given before sending it, so that its user learns which part is wrong
// without a round trip; the message is the gateway's own for the same
// name, so the answer does not depend on who checked.
func Check(s string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("target name %s: %s", Quote(s), fmt.Sprintf(format, args...))
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
	// Split by hand into a fixed array: a check on every request should
	// not allocate.
	var parts [3]string
	n := 0
	for rest, more := s, true; more; n++ {
		var p string
		p, rest, more = strings.Cut(rest, ".")
		if n < len(parts) {
			parts[n] = p
		}
	}
	switch {
	case n < 2:
		return fail("has no NAU: want NETID.NAU or NETID.NAU.LPARNAME")
	case n > 3:
		return fail("has %d dot-separated parts: want NETID.NAU or NETID.NAU.LPARNAME", n)
	}
	names := [...]string{"NETID", "NAU", "LPARNAME"}
	for i, p := range parts[:n] {
		if msg := CheckPart(p, i == 2); msg != "" {
			return fail("%s %s", names[i], msg)
		}
	}
	return nil
}

// CheckPart returns what is wrong with one part, or "". An SNA name
// (NETID, NAU) may use @ # $ and may not start with a digit; an LPAR name
// is letters and digits and starts with a letter; each is at most 8
// characters.
func CheckPart(p string, lpar bool) string {
	const maxNamePart = 8
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
	letter := func(c byte) bool { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !letter(c) && !digit(c) && (lpar || c != '@' && c != '#' && c != '$') {
			return fmt.Sprintf("%q contains %q, which is not one of %s", p, rune(c), allowed)
		}
	}
	switch {
	case lpar && !letter(p[0]):
		return fmt.Sprintf("%q does not start with a letter", p)
	case digit(p[0]):
		return fmt.Sprintf("%q starts with a digit", p)
	}
	return ""
}

// Quote quotes caller input for an error message, cut short so that a
// huge header cannot make a huge message or log line.
func Quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
