package stomp

import "strings"

// Version is a STOMP protocol version. The versions differ on the wire in
// how header values are escaped (none in 1.0; \\, \n and \c in 1.1; \r as
// well in 1.2), in heart-beating (1.1 and 1.2 only) and in the commands
// they define (NACK and STOMP arrived with 1.1).
type Version uint8

// The versions the codec speaks, in order.
const (
	V10 Version = iota + 1
	V11
	V12
)

// Versions are the versions the codec speaks, as an accept-version or an
// ERROR frame's version header lists them.
const Versions = "1.0,1.1,1.2"

// String is the version as accept-version and version headers spell it.
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	case V12:
		return "1.2"
	}
	return "unknown"
}

// HeartBeats reports whether the version defines heart-beating.
func (v Version) HeartBeats() bool { return v >= V11 }

// NegotiateVersion picks the version of a connection whose CONNECT or
// STOMP frame carried accept-version (present: whether it did), as the
// STOMP specification says: the highest version both sides speak, and 1.0
// when the client names none. ok is false when the client names only
// versions the codec does not speak.
func NegotiateVersion(acceptVersion string, present bool) (v Version, ok bool) {
	if !present {
		return V10, true
	}
	for _, s := range strings.Split(acceptVersion, ",") {
		var w Version
		switch strings.TrimSpace(s) {
		case "1.0":
			w = V10
		case "1.1":
			w = V11
		case "1.2":
			w = V12
		}
		v = max(v, w)
	}
	return v, v != 0
}
