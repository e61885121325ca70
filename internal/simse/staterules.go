package simse

import (
	"fmt"
	"slices"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// The state rules of the operations: for each, the statuses it runs from,
// those it needs "force":true for, the status while it runs and after it
// succeeds, and for an LPAR what its job's message says. A request in a
// status the rule refuses still starts a job, which ends 409.1 with the
// reason. This table is the one place the rules are written; the README's
// table of LPAR operations is checked against it (TestREADMEStateTable).

// Status is an object's status, as the HMC names it.
type Status string

// The statuses of the objects the rules name.
const (
	NotActivated Status = "not-activated"
	NotOperating Status = "not-operating"
	Operating    Status = "operating"
	Exceptions   Status = "exceptions"
	Stopped      Status = "stopped"
	Starting     Status = "starting"
	Active       Status = "active"
	Stopping     Status = "stopping"
)

// activated are the statuses of an activated LPAR.
var activated = []Status{NotOperating, Operating, Exceptions}

// stateRule is the rule of one operation on one kind of object.
type stateRule struct {
	kind, op string
	// from are the statuses it runs from; nil: any.
	from []Status
	// force are the statuses of from it needs "force":true in, and
	// forceWhy says so in the job's message.
	force    []Status
	forceWhy string
	// notInModes are the LPAR operating modes it refuses.
	notInModes []string
	// during is the status while it runs, after when it succeeds; ""
	// keeps the status.
	during, after Status
	// verb is what an LPAR job's message says the operation did.
	verb string
	// loadType is the last-used-load-type a load leaves; "" for an
	// operation that loads nothing.
	loadType string
	// needs and leaves add to the README's columns.
	needs, leaves string
}

var stateRules = []stateRule{
	{kind: bcpii.KindLogicalPartition, op: "activate", force: []Status{Operating}, forceWhy: "activating it again needs force",
		after: NotOperating, verb: "activated", leaves: ", or `operating` if the profile loads"},
	{kind: bcpii.KindLogicalPartition, op: "load", from: activated, force: []Status{Operating}, forceWhy: "loading it again needs force",
		after: Operating, verb: "loaded", loadType: "ipltype-standard"},
	{kind: bcpii.KindLogicalPartition, op: "scsi-load", from: activated, force: []Status{Operating}, forceWhy: "loading it again needs force",
		after: Operating, verb: "loaded from SCSI", loadType: "ipltype-scsi", needs: "; the body needs `load-address`, `world-wide-port-name`, `logical-unit-number`",
		leaves: " (`last-used-load-type` `ipltype-scsi` / `ipltype-scsidump`)"},
	{kind: bcpii.KindLogicalPartition, op: "scsi-dump", from: activated, force: []Status{Operating}, forceWhy: "loading it again needs force",
		after: Operating, verb: "dumped to SCSI", loadType: "ipltype-scsidump", needs: "; the body needs `load-address`, `world-wide-port-name`, `logical-unit-number`",
		leaves: " (`last-used-load-type` `ipltype-scsi` / `ipltype-scsidump`)"},
	{kind: bcpii.KindLogicalPartition, op: "nvme-load", from: activated, force: []Status{Operating}, forceWhy: "loading it again needs force",
		after: Operating, verb: "loaded from NVMe", loadType: "ipltype-nvme", needs: "; the body needs `load-address`",
		leaves: " (`last-used-load-type` `ipltype-nvme` / `ipltype-nvmedump`)"},
	{kind: bcpii.KindLogicalPartition, op: "nvme-dump", from: activated, force: []Status{Operating}, forceWhy: "loading it again needs force",
		after: Operating, verb: "dumped to NVMe", loadType: "ipltype-nvmedump", needs: "; the body needs `load-address`",
		leaves: " (`last-used-load-type` `ipltype-nvme` / `ipltype-nvmedump`)"},
	{kind: bcpii.KindLogicalPartition, op: "deactivate", from: activated, force: []Status{Operating}, forceWhy: "deactivating it needs force",
		after: NotActivated, verb: "deactivated"},
	// As the HMC's Stop and Start Logical Partition: an activated LPAR,
	// operating or not, unless it runs a firmware appliance.
	{kind: bcpii.KindLogicalPartition, op: "stop", from: activated, notInModes: []string{"ssc", "zaware"}, after: NotOperating, verb: "stopped"},
	{kind: bcpii.KindLogicalPartition, op: "start", from: activated, notInModes: []string{"ssc", "zaware"}, after: Operating, verb: "started"},
	// As the HMC's Reset Normal and Reset Clear: force for an operating
	// LPAR and for one in exceptions.
	{kind: bcpii.KindLogicalPartition, op: "reset-normal", from: activated, force: []Status{Operating, Exceptions}, forceWhy: "resetting it needs force",
		after: NotOperating, verb: "reset"},
	{kind: bcpii.KindLogicalPartition, op: "reset-clear", from: activated, force: []Status{Operating, Exceptions}, forceWhy: "resetting it needs force",
		after: NotOperating, verb: "reset and cleared"},
	{kind: bcpii.KindLogicalPartition, op: "psw-restart", from: activated, after: Operating, verb: "restarted"},
	{kind: bcpii.KindPartition, op: "start", from: []Status{Stopped}, during: Starting, after: Active},
	{kind: bcpii.KindPartition, op: "stop", from: []Status{Active}, during: Stopping, after: Stopped},
	{kind: bcpii.KindCPC, op: "start", from: []Status{NotOperating}, after: Operating},
	// Stopping a CPC stops its partitions with it (transition).
	{kind: bcpii.KindCPC, op: "stop", from: []Status{Operating}, after: NotOperating},
}

// ruleFor is the rule of op on kind, or nil.
func ruleFor(kind, op string) *stateRule {
	for i := range stateRules {
		if r := &stateRules[i]; r.kind == kind && r.op == op {
			return r
		}
	}
	return nil
}

// refusal says why the rule refuses o as it is, or "".
func (r *stateRule) refusal(o *object, force bool) string {
	st := Status(o.status)
	bad := func(extra string) string {
		return fmt.Sprintf("The %s has status %s%s.", describeObject(o), o.status, extra)
	}
	switch {
	case r.from != nil && !slices.Contains(r.from, st):
		return bad("")
	case slices.Contains(r.force, st) && !force:
		return bad("; " + r.forceWhy)
	case o.kind == bcpii.KindLogicalPartition && slices.Contains(r.notInModes, o.lpar.mode):
		return fmt.Sprintf("The %s runs in %s mode, which does not permit %s.", describeObject(o), o.lpar.mode, r.op)
	}
	return ""
}
