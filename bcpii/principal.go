package bcpii

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Principal is who asks: a requesting partition on the BCPii interface or
// an API user with a web-services session. The zero value is no one.
type Principal struct {
	partition TargetName
	user      string
}

// PartitionPrincipal returns the requesting partition t. A CPC cannot make
// requests, so t must name a logical partition.
func PartitionPrincipal(t TargetName) (Principal, error) {
	if t.IsZero() || t.IsCPC() {
		return Principal{}, errors.New("bcpii: a requesting partition needs the target name of a logical partition, not " + quote(t.String()))
	}
	return Principal{partition: t}, nil
}

// UserPrincipal returns the API user called name.
func UserPrincipal(name string) (Principal, error) {
	if err := checkUserName(name); err != nil {
		return Principal{}, fmt.Errorf("bcpii: %w", err)
	}
	return Principal{user: name}, nil
}

// checkUserName refuses names that would print badly in
// request-authenticated-as or a log line, or that differ from what an
// operator sees in the users file only by invisible characters.
func checkUserName(name string) error {
	switch {
	case name == "":
		return errors.New("user name is empty")
	case len(name) > maxUserName:
		return fmt.Errorf("user name is longer than %d bytes", maxUserName)
	case !utf8.ValidString(name):
		return errors.New("user name is not valid UTF-8")
	case strings.TrimSpace(name) != name:
		return errors.New("user name " + quote(name) + " has leading or trailing white space")
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return errors.New("user name " + quote(name) + " contains a control or invisible character")
	}
	return nil
}

const maxUserName = 256

// IsZero reports whether p is no one.
func (p Principal) IsZero() bool { return p == Principal{} }

// IsPartition reports whether p is a requesting partition.
func (p Principal) IsPartition() bool { return !p.partition.IsZero() }

// Partition returns the requesting partition, or the zero TargetName for an
// API user.
func (p Principal) Partition() TargetName { return p.partition }

// User returns the API user's name, or "" for a partition.
func (p Principal) User() string { return p.user }

// String is request-authenticated-as: the partition's target name or the
// user's name.
func (p Principal) String() string {
	if p.IsPartition() {
		return p.partition.String()
	}
	return p.user
}

// Owner is the job owner p stands for. The zero Principal gives the zero
// Owner, which the registry refuses to create jobs for.
func (p Principal) Owner() jobs.Owner {
	switch {
	case p.IsPartition():
		return jobs.Owner{Kind: jobs.PartitionOwner, Name: p.partition.String()}
	case p.user != "":
		return jobs.Owner{Kind: jobs.UserOwner, Name: p.user}
	default:
		return jobs.Owner{}
	}
}

// Caller returns p as a registry caller for a job request that carried
// X-API-Target-Name = targetHeader (targetPresent says whether it was there
// at all, since an empty header is malformed rather than missing).
//
// For a partition, a job started over BCPii (one with a Target) may be seen
// only through a request naming that same target; the registry runs the
// check after ownership, so another partition's job is 404.1 before any
// header is looked at. For an API user the header plays no part.
func (p Principal) Caller(targetHeader string, targetPresent bool) jobs.Caller {
	return p.CallerIn(new(TargetCheck), targetHeader, targetPresent)
}

// CallerIn is Caller with the target rule kept in t, which the caller
// provides (a request's own record, say) and must not change after.
func (p Principal) CallerIn(t *TargetCheck, targetHeader string, targetPresent bool) jobs.Caller {
	c := jobs.Caller{Owner: p.Owner()}
	if !p.IsPartition() {
		return c
	}
	t.named, t.headerErr = TargetFromHeader(targetHeader, targetPresent)
	c.Check = t
	return c
}

// TargetCheck is a partition's rule for its jobs started over BCPii: the
// request must name the job's target in X-API-Target-Name.
type TargetCheck struct {
	named     TargetName
	headerErr error
}

// Check refuses a job with a target the request does not name.
func (t *TargetCheck) Check(j jobs.Job) error {
	if j.Target == "" {
		return nil
	}
	if t.headerErr != nil {
		return t.headerErr
	}
	// Parsed rather than compared with strings.EqualFold, which folds
	// non-ASCII characters such as the Kelvin sign onto ASCII letters.
	started, err := ParseTargetName(j.Target)
	if err != nil || !started.Equal(t.named) {
		return errWrongTarget
	}
	return nil
}

var errWrongTarget = hmcerr.ErrBadTargetName.WithMessage(
	"The X-API-Target-Name header does not name the target of the request that started the job.")

// errNoTarget is built once: a request without the header (a job query
// that names no target) keeps it for as long as it runs, and a watch may
// run for hours.
var errNoTarget = hmcerr.ErrBadTargetName.WithMessage("The X-API-Target-Name header is missing.")

// TargetFromHeader parses the X-API-Target-Name header of a BCPii request.
// Its errors are hmcerr.ErrBadTargetName (400.2) with a message that says
// what is wrong.
func TargetFromHeader(value string, present bool) (TargetName, error) {
	if !present {
		return TargetName{}, errNoTarget
	}
	t, err := ParseTargetName(value)
	if err != nil {
		return TargetName{}, hmcerr.ErrBadTargetName.WithMessage("The X-API-Target-Name header is not valid: %s.", err)
	}
	return t, nil
}
