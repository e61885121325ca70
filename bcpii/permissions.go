package bcpii

import (
	"slices"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// Accept says which partitions a logical partition takes BCPii commands
// from, as its image profile does on an SE.
type Accept int

const (
	// AcceptAll takes commands from every partition. It is the zero
	// value, so that an object described without permissions permits
	// everything, as the built-in inventory does.
	AcceptAll Accept = iota
	// AcceptNone takes commands from no other partition.
	AcceptNone
	// AcceptListed takes commands from the partitions in Permissions.From.
	AcceptListed
)

// Permissions are the BCPii permissions of one logical partition: whether
// it may send BCPii commands, and which partitions may act on it. The zero
// value may not send; use AllowAll for a partition without restrictions.
type Permissions struct {
	// Send says the partition may send BCPii commands.
	Send bool
	// Accept says which partitions may act on the partition.
	Accept Accept
	// From lists the partitions that may act on it when Accept is
	// AcceptListed.
	From []TargetName
}

// AllowAll permits everything: the partition may send, and every
// partition may act on it.
var AllowAll = Permissions{Send: true, Accept: AcceptAll}

// Accepts reports whether p takes commands from requester.
func (p Permissions) Accepts(requester TargetName) bool {
	switch p.Accept {
	case AcceptAll:
		return true
	case AcceptListed:
		return slices.Contains(p.From, requester)
	}
	return false
}

// ErrNotPermitted (403.1) is the SE's refusal of a BCPii request its
// permissions do not allow. The SE raised it, so it is the backend's
// (bcpii-error false).
var ErrNotPermitted = hmcerr.ErrNotPermitted

// Lookup returns the permissions of the partition named t, if there is one.
type Lookup func(t TargetName) (Permissions, bool)

// Permit applies the BCPii permissions (the job contract, section 8) to a
// request from the partition requester naming target (zero for a request
// that names none, such as List CPCs):
//
//   - a request on the requester's own target is always permitted;
//   - otherwise the requester must be permitted to send BCPii commands;
//   - and when the target is a partition, that partition must accept
//     commands from the requester.
//
// A partition perms does not know is not restricted: the SE has no image
// profile saying otherwise. Its error is ErrNotPermitted (403.1).
func Permit(requester, target TargetName, perms Lookup) error {
	if !target.IsZero() && requester.Equal(target) {
		return nil
	}
	if p, ok := perms(requester); ok && !p.Send {
		return ErrNotPermitted
	}
	if target.IsZero() || target.IsCPC() {
		return nil
	}
	if p, ok := perms(target); ok && !p.Accepts(requester) {
		return ErrNotPermitted
	}
	return nil
}
