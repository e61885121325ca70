package simse

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// The statuses an object may have, as the HMC spells them.
var (
	cpcStatuses       = []string{"operating", "not-operating", "no-power"}
	lparStatuses      = []string{"not-activated", "not-operating", "operating", "exceptions"}
	partitionStatuses = []string{"stopped", "starting", "active", "stopping"}
	partitionTypes    = []string{"linux", "ssc", "zvm"}
	// operatingModes are the operating-mode values of an image profile.
	operatingModes = []string{"esa390", "esa390-tpf", "coupling-facility", "linux-only", "z-vm", "zaware", "ssc", "general"}
	// adapterFamilies are the adapter-family values, and adapterTypes the
	// type of an adapter of each family.
	adapterFamilies = map[string][]string{
		"osa": {"osd", "osm"}, "hipersockets": {"hipersockets"}, "ficon": {"fcp", "fc"}, "roce": {"roce"},
		"crypto": {"crypto"}, "accelerator": {"zedc", "nvme"},
	}
	storageGroupTypes = []string{"fcp", "fc", "nvme"}
)

// ownProperties are properties the SE sets from an object's identity and
// state: an inventory's properties may not set them.
var ownProperties = []string{
	"object-uri", "object-id", "element-uri", "element-id", "class", "name", "parent", "status",
	"target-name", "sna-name", "dpm-enabled", "iml-mode", "type", "adapter-id", "adapter-family", "cpc-uri",
	"next-activation-profile-name", "last-used-activation-profile", "last-used-load-address", "last-used-load-parameter",
	"activation-mode", "has-unacceptable-status", "nic-uris", "hba-uris", "virtual-function-uris",
	"network-port-uris", "storage-port-uris",
}

// properties checks an object's inventory properties against its class.
func (v *validator) properties(path string, c *class, dpm bool, props map[string]any) {
	for _, name := range slices.Sorted(maps.Keys(props)) {
		p := c.byName[name]
		switch {
		case p == nil || p.mode == classicOnly && dpm || p.mode == dpmOnly && !dpm:
			v.errorf(path+".properties."+name, "a %s has no property %q", c.name, name)
		case slices.Contains(ownProperties, name):
			v.errorf(path+".properties."+name, "%q follows the object's identity or state; set it with the object's own fields", name)
		case !p.hasType(normalizeNumbers(props[name])):
			v.errorf(path+".properties."+name, "want %s", p.typ)
		}
	}
}

// The operations each kind of object takes, from the route table.
var (
	cpcOperations       = bcpii.Actions(bcpii.KindCPC)
	lparOperations      = bcpii.Actions(bcpii.KindLogicalPartition)
	partitionOperations = bcpii.Actions(bcpii.KindPartition)
)

// Validate reports every inconsistency in inv, each with its place.
func (inv *Inventory) Validate() error {
	v := &validator{ids: map[string]string{}, targets: map[string]string{}, cpcNames: map[string]string{}}
	if len(inv.CPCs) == 0 {
		v.errorf("cpcs", "at least one CPC is required")
	}
	for i, c := range inv.CPCs {
		v.cpc(fmt.Sprintf("cpcs[%d]", i), c)
	}
	if err := inv.Console.version().Validate(); err != nil {
		v.errorf("console", "%v", err)
	}
	if len(v.errs) > 0 {
		return fmt.Errorf("simse: inventory: %w", errors.Join(v.errs...))
	}
	return nil
}

type validator struct {
	errs     []error
	ids      map[string]string // object id -> where it was first seen
	targets  map[string]string // upper-case target name -> where
	cpcNames map[string]string
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (v *validator) cpc(path string, c CPC) {
	switch {
	case c.Name == "":
		v.errorf(path+".name", "a name is required")
	case !validCPCName(c.Name):
		v.errorf(path+".name", "%q is not 1 to 64 printable characters", c.Name)
	case v.cpcNames[c.Name] != "":
		v.errorf(path+".name", "%q is also the name of %s", c.Name, v.cpcNames[c.Name])
	default:
		v.cpcNames[c.Name] = path
	}
	v.id(path, c.ObjectID)
	if c.TargetName == "" {
		v.errorf(path+".target-name", "a target name (NETID.NAU) is required")
	} else if !validCPCTarget(c.TargetName) {
		v.errorf(path+".target-name", "%q is not NETID.NAU, each 1 to 8 characters A-Z 0-9 @ # $ not starting with a digit", c.TargetName)
	} else {
		v.target(path, c.TargetName)
	}
	v.status(path, c.Status, cpcStatuses)
	if c.DPMEnabled {
		if len(c.LogicalPartitions) > 0 {
			v.errorf(path+".logical-partitions", "a CPC in DPM mode has partitions, not logical partitions")
		}
		v.operations(path, c.Operations, cpcOperations)
	} else {
		if len(c.Partitions) > 0 {
			v.errorf(path+".partitions", "a CPC in classic mode has logical partitions; set dpm-enabled for partitions")
		}
		if len(c.Operations) > 0 {
			v.errorf(path+".operations", "only a CPC in DPM mode takes start and stop")
		}
	}
	names := map[string]string{}
	member := func(path, name, id, status string, statuses []string, ops map[string]Operation, opNames []string) {
		up := strings.ToUpper(name)
		switch {
		case !bcpii.ValidLPARName(name):
			v.errorf(path+".name", "%q is not 1 to 8 characters A-Z 0-9 starting with a letter", name)
		case names[up] != "":
			v.errorf(path+".name", "%q is also the name of %s", name, names[up])
		default:
			names[up] = path
			if validCPCTarget(c.TargetName) {
				v.target(path, c.TargetName+"."+name)
			}
		}
		v.id(path, id)
		v.status(path, status, statuses)
		v.operations(path, ops, opNames)
	}
	profiles := v.profiles(path, c)
	for i, l := range c.LogicalPartitions {
		p := fmt.Sprintf("%s.logical-partitions[%d]", path, i)
		member(p, l.Name, l.ObjectID, l.Status, lparStatuses, l.Operations, lparOperations)
		if n := l.NextActivationProfile; n != "" && !profiles[strings.ToUpper(n)] && !strings.EqualFold(n, l.Name) {
			v.errorf(p+".next-activation-profile-name", "%q is no image or load activation profile of the CPC", n)
		}
		v.loadAddress(p+".last-used-load-address", l.LastUsedLoadAddress)
		v.permissions(p+".bcpii-permissions", l.BCPii)
	}
	for i, pt := range c.Partitions {
		p := fmt.Sprintf("%s.partitions[%d]", path, i)
		member(p, pt.Name, pt.ObjectID, pt.Status, partitionStatuses, pt.Operations, partitionOperations)
		if pt.Type != "" && !slices.Contains(partitionTypes, pt.Type) {
			v.errorf(p+".type", "%q is not one of %s", pt.Type, strings.Join(partitionTypes, ", "))
		}
		v.permissions(p+".bcpii-permissions", pt.BCPii)
		v.properties(p, partitionClass, true, pt.Properties)
	}
	for i, l := range c.LogicalPartitions {
		v.properties(fmt.Sprintf("%s.logical-partitions[%d]", path, i), lparClass, false, l.Properties)
	}
	v.properties(path, cpcClass, c.DPMEnabled, c.Properties)
	v.resources(path, c)
}

// resources checks the adapters, storage groups and capacity records of c.
func (v *validator) resources(path string, c CPC) {
	records := map[string]bool{}
	for i, r := range c.CapacityRecords {
		p := fmt.Sprintf("%s.capacity-records[%d]", path, i)
		switch {
		case len(r.ID) < 1 || len(r.ID) > 8 || strings.ContainsAny(r.ID, "/ ?#%"):
			v.errorf(p+".record-id", "%q is not 1 to 8 characters", r.ID)
		case records[r.ID]:
			v.errorf(p+".record-id", "%q is the id of another record", r.ID)
		}
		records[r.ID] = true
		if !slices.Contains(recordTypes, r.Type) {
			v.errorf(p+".record-type", "%q is not one of %s", r.Type, strings.Join(recordTypes, ", "))
		}
		for t, n := range r.MaxSteps {
			if _, ok := processorCounts[t]; !ok || n < 0 {
				v.errorf(p+".max-steps."+t, "want a processor type (aap, cbp, icf, ifl, iip, sap) with a number of steps")
			}
		}
	}
	if !c.DPMEnabled && len(c.Adapters)+len(c.StorageGroups) > 0 {
		v.errorf(path, "only a CPC in DPM mode has adapters and storage groups here")
	}
	for i, a := range c.Adapters {
		p := fmt.Sprintf("%s.adapters[%d]", path, i)
		if !validCPCName(a.Name) {
			v.errorf(p+".name", "%q is not 1 to 64 printable characters", a.Name)
		}
		v.id(p, a.ObjectID)
		if !validHex(a.AdapterID, 3, 3) {
			v.errorf(p+".adapter-id", "%q is not a PCHID of 3 hexadecimal digits", a.AdapterID)
		}
		if types, ok := adapterFamilies[a.Family]; !ok {
			v.errorf(p+".adapter-family", "%q is not one of %s", a.Family, strings.Join(slices.Sorted(maps.Keys(adapterFamilies)), ", "))
		} else if a.Type != "" && !slices.Contains(types, a.Type) {
			v.errorf(p+".type", "%q is not one of %s, the types of the %s family", a.Type, strings.Join(types, ", "), a.Family)
		}
		v.properties(p, adapterClass, true, a.Properties)
	}
	for i, sg := range c.StorageGroups {
		p := fmt.Sprintf("%s.storage-groups[%d]", path, i)
		if !validCPCName(sg.Name) {
			v.errorf(p+".name", "%q is not 1 to 64 printable characters", sg.Name)
		}
		v.id(p, sg.ObjectID)
		if sg.Type != "" && !slices.Contains(storageGroupTypes, sg.Type) {
			v.errorf(p+".type", "%q is not one of %s", sg.Type, strings.Join(storageGroupTypes, ", "))
		}
		v.properties(p, storageGroupClass, true, sg.Properties)
	}
}

// validHex reports whether s is min to max hexadecimal digits.
func validHex(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// profiles checks the activation profiles of c and returns the names of
// its image and load profiles.
func (v *validator) profiles(path string, c CPC) map[string]bool {
	if c.DPMEnabled && len(c.ImageProfiles)+len(c.LoadProfiles)+len(c.ResetProfiles) > 0 {
		v.errorf(path, "a CPC in DPM mode has no activation profiles")
	}
	names := map[string]bool{}
	name := func(p, n string, seen map[string]bool) {
		up := strings.ToUpper(n)
		switch {
		case !validProfileName(n):
			v.errorf(p+".name", "%q is not 1 to 16 characters A-Z 0-9", n)
		case seen[up]:
			v.errorf(p+".name", "%q is the name of another profile", n)
		}
		seen[up] = true
	}
	loadNames := map[string]bool{}
	for i, ip := range c.ImageProfiles {
		p := fmt.Sprintf("%s.image-activation-profiles[%d]", path, i)
		name(p, ip.Name, names)
		if ip.OperatingMode != "" && !slices.Contains(operatingModes, ip.OperatingMode) {
			v.errorf(p+".operating-mode", "%q is not one of %s", ip.OperatingMode, strings.Join(operatingModes, ", "))
		}
		v.loadAddress(p+".load-address", ip.LoadAddress)
	}
	for i, lp := range c.LoadProfiles {
		p := fmt.Sprintf("%s.load-activation-profiles[%d]", path, i)
		// An activation profile name names one profile, image or load.
		name(p, lp.Name, names)
		loadNames[strings.ToUpper(lp.Name)] = true
		v.loadAddress(p+".load-address", lp.LoadAddress)
	}
	resets := map[string]bool{}
	for i, rp := range c.ResetProfiles {
		name(fmt.Sprintf("%s.reset-activation-profiles[%d]", path, i), rp.Name, resets)
	}
	for n := range loadNames {
		names[n] = true
	}
	return names
}

func (v *validator) loadAddress(path, s string) {
	if s != "" && !validLoadAddress(s) {
		v.errorf(path, "%q is not a device number of 4 or 5 hexadecimal digits", s)
	}
}

func (v *validator) permissions(path string, p *bcpii.Permissions) {
	if p == nil {
		return
	}
	for i, t := range p.From {
		if t.IsZero() || t.IsCPC() {
			v.errorf(fmt.Sprintf("%s.accept[%d]", path, i), "not the target name of a partition")
		}
	}
}

// validProfileName keeps activation profile names to what an SE takes and
// a URI path segment holds unescaped.
func validProfileName(s string) bool {
	if len(s) < 1 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// validLoadAddress reports whether s is a device number, 4 or 5
// hexadecimal digits.
func validLoadAddress(s string) bool {
	if len(s) != 4 && len(s) != 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && !(c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (v *validator) id(path, id string) {
	switch {
	case id == "":
		v.errorf(path+".object-id", "an object id is required")
	case !validObjectID(id):
		v.errorf(path+".object-id", "%q is not 1 to 64 characters A-Z a-z 0-9 - _", id)
	case v.ids[id] != "":
		v.errorf(path+".object-id", "%q is also the object id of %s", id, v.ids[id])
	default:
		v.ids[id] = path
	}
}

func (v *validator) target(path, name string) {
	up := strings.ToUpper(name)
	if other := v.targets[up]; other != "" {
		v.errorf(path, "target name %s is also that of %s", up, other)
		return
	}
	v.targets[up] = path
}

func (v *validator) status(path, status string, allowed []string) {
	if status == "" {
		v.errorf(path+".status", "a status is required: one of %s", strings.Join(allowed, ", "))
		return
	}
	for _, s := range allowed {
		if status == s {
			return
		}
	}
	v.errorf(path+".status", "%q is not one of %s", status, strings.Join(allowed, ", "))
}

func (v *validator) operations(path string, ops map[string]Operation, allowed []string) {
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		op := ops[name]
		p := path + ".operations." + name
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			v.errorf(p, "the object takes only %s", strings.Join(allowed, ", "))
			continue
		}
		if op.Duration < 0 {
			v.errorf(p+".duration", "%v is negative", op.Duration)
		}
		if op.CancelDuration < 0 {
			v.errorf(p+".cancel-duration", "%v is negative", op.CancelDuration)
		}
		ok2xx := op.StatusCode >= 200 && op.StatusCode <= 299
		switch {
		case op.StatusCode != 0 && (op.StatusCode < 200 || op.StatusCode > 599):
			v.errorf(p+".status-code", "%d is not an HTTP status from 200 to 599", op.StatusCode)
		case op.ReasonCode < 0:
			v.errorf(p+".reason-code", "%d is negative", op.ReasonCode)
		case op.ReasonCode != 0 && (op.StatusCode == 0 || ok2xx):
			v.errorf(p+".reason-code", "a reason code goes only with a status-code that is not 2xx")
		}
		if op.Results != nil {
			if !isJSONObject(op.Results) {
				v.errorf(p+".job-results", "not a JSON object")
			} else if op.StatusCode == 204 {
				v.errorf(p+".job-results", "a 204 completion has no results")
			}
		}
	}
}

func validCPCName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 64 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// validCPCTarget reports whether s is the target name of a CPC,
// NETID.NAU, in either case.
func validCPCTarget(s string) bool {
	t, err := bcpii.ParseTargetName(s)
	return err == nil && t.IsCPC()
}

// validObjectID keeps object ids to characters that need no escaping in a
// URI path segment, and excludes dots so that no id reads as "." or "..".
func validObjectID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
