// Package bcpiitest holds helpers for tests that stand in for the BCPii
// layer: the principal a job owner of a test stands for, and target names
// from strings. Only tests import it.
package bcpiitest

import (
	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Principal is the principal a job owner of the tests stands for; the
// zero owner is no one. It panics on an owner no principal can have.
func Principal(o jobs.Owner) bcpii.Principal {
	if o == (jobs.Owner{}) {
		return bcpii.Principal{} // no one
	}
	var p bcpii.Principal
	var err error
	if o.Kind == jobs.PartitionOwner {
		p, err = bcpii.PartitionPrincipal(Target(o.Name))
	} else {
		p, err = bcpii.UserPrincipal(o.Name)
	}
	if err != nil {
		panic(err)
	}
	return p
}

// Target is the target name s, or none where s is not one (an API
// user's name).
func Target(s string) bcpii.TargetName {
	t, _ := bcpii.ParseTargetName(s)
	return t
}
