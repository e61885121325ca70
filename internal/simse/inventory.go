package simse

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// DefaultDuration is how long an operation runs unless the inventory says
// otherwise.
const DefaultDuration = 3 * time.Second

// Inventory is what the simulated SE manages: CPCs and, under each, its
// logical partitions (classic mode) or partitions (DPM mode). ParseInventory
// returns one with names and target names in upper case; New validates one
// built in code the same way.
type Inventory struct {
	CPCs []CPC
}

// CPC is a central processor complex.
type CPC struct {
	Name string
	// ObjectID is the {cpc-id} of /api/cpcs/{cpc-id}.
	ObjectID string
	// TargetName is the CPC's BCPii name, NETID.NAU.
	TargetName string
	// Status is operating, not-operating or no-power.
	Status string
	// DPMEnabled says the CPC runs in DPM mode: it has Partitions and takes
	// start and stop. Otherwise it has LogicalPartitions.
	DPMEnabled bool
	// Operations tunes start and stop, by operation name.
	Operations map[string]Operation
	// LogicalPartitions of a classic CPC.
	LogicalPartitions []LPAR
	// Partitions of a DPM CPC.
	Partitions []Partition
}

// LPAR is a logical partition of a classic-mode CPC. Its target name is the
// CPC's followed by a dot and its name.
type LPAR struct {
	// Name is 1 to 8 characters A-Z 0-9, starting with a letter.
	Name     string
	ObjectID string
	// Status is not-activated, not-operating, operating or exceptions.
	Status string
	// Operations tunes activate, deactivate and load.
	Operations map[string]Operation
}

// Partition is a partition of a DPM-mode CPC. HMC partition names may be
// longer, but a simulated partition's name follows the LPAR name rule so
// that NETID.NAU.NAME can be its target name.
type Partition struct {
	Name     string
	ObjectID string
	// Status is stopped, starting, active or stopping.
	Status string
	// Operations tunes start and stop.
	Operations map[string]Operation
}

// Operation tunes one operation on one object. The zero value is the
// operation's default behaviour.
type Operation struct {
	// Duration is how long the job runs; zero means DefaultDuration.
	Duration time.Duration
	// CancelDuration is how long a canceled job stays cancel-pending before
	// it ends canceled; zero ends it as soon as the cancel is seen.
	CancelDuration time.Duration
	// Cancelable, when set, overrides whether Cancel Job applies.
	Cancelable *bool
	// StatusCode, when not zero, replaces the job-status-code the operation
	// completes with when its state rules let it run; 2xx still changes the
	// object, anything else leaves it as it was. Zero keeps the built-in
	// outcome.
	StatusCode int
	// ReasonCode goes with a StatusCode that is not 2xx.
	ReasonCode int
	// Results, when not nil, is the job-results JSON object to complete
	// with. With a zero StatusCode it makes the outcome 200 with these
	// results.
	Results []byte
}

//go:embed default.yaml
var defaultInventory []byte

// DefaultInventoryFile is the built-in inventory as a YAML file: an example
// of the inventory file format.
func DefaultInventoryFile() []byte { return append([]byte(nil), defaultInventory...) }

// DefaultInventory is the built-in inventory: CPC1 (IBM390PS.CPC1, classic)
// with LP1 operating, LP2 not-activated and LP3 not-operating, and CPC2
// (IBM390PS.CPC2, DPM) with PART1 stopped and PART2 active. Each call
// returns a fresh copy.
func DefaultInventory() (*Inventory, error) {
	inv, err := ParseInventory(defaultInventory)
	if err != nil {
		return nil, fmt.Errorf("simse: built-in inventory: %w", err)
	}
	return inv, nil
}

// LoadInventory reads and parses an inventory file.
func LoadInventory(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("simse: %w", err)
	}
	inv, err := ParseInventory(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// ParseInventory parses an inventory in YAML or JSON. It is strict: unknown
// fields, repeated keys, values of the wrong type, YAML aliases and
// inconsistent objects are errors, each naming its place in the file.
func ParseInventory(data []byte) (*Inventory, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("simse: inventory: %w", err)
	}
	w := &walker{}
	inv := w.inventory(root)
	if len(w.errs) > 0 {
		return nil, fmt.Errorf("simse: inventory: %w", errors.Join(w.errs...))
	}
	inv.normalize()
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	return inv, nil
}

// normalize upper-cases what target names are made of, because target names
// compare case-insensitively and print in upper case.
func (inv *Inventory) normalize() {
	for i := range inv.CPCs {
		c := &inv.CPCs[i]
		c.TargetName = strings.ToUpper(c.TargetName)
		for j := range c.LogicalPartitions {
			c.LogicalPartitions[j].Name = strings.ToUpper(c.LogicalPartitions[j].Name)
		}
		for j := range c.Partitions {
			c.Partitions[j].Name = strings.ToUpper(c.Partitions[j].Name)
		}
	}
}

// The statuses an object may have, as the HMC spells them.
var (
	cpcStatuses       = []string{"operating", "not-operating", "no-power"}
	lparStatuses      = []string{"not-activated", "not-operating", "operating", "exceptions"}
	partitionStatuses = []string{"stopped", "starting", "active", "stopping"}
)

// The operations each kind of object takes.
var (
	cpcOperations       = []string{"start", "stop"}
	lparOperations      = []string{"activate", "deactivate", "load"}
	partitionOperations = []string{"start", "stop"}
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
		case !validLPARName(name):
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
	for i, l := range c.LogicalPartitions {
		member(fmt.Sprintf("%s.logical-partitions[%d]", path, i), l.Name, l.ObjectID, l.Status, lparStatuses, l.Operations, lparOperations)
	}
	for i, p := range c.Partitions {
		member(fmt.Sprintf("%s.partitions[%d]", path, i), p.Name, p.ObjectID, p.Status, partitionStatuses, p.Operations, partitionOperations)
	}
}

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

// validSNAName reports whether s is an SNA name (a NETID or NAU): 1 to 8
// characters A-Z 0-9 @ # $, not starting with a digit. Lower case is
// accepted because target names compare case-insensitively.
func validSNAName(s string) bool {
	if len(s) < 1 || len(s) > 8 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '@' && c != '#' && c != '$' {
			return false
		}
	}
	return true
}

// validLPARName reports whether s is 1 to 8 characters A-Z 0-9 starting
// with a letter, in either case.
func validLPARName(s string) bool {
	if len(s) < 1 || len(s) > 8 || !isLetter(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func validCPCTarget(s string) bool {
	netid, nau, ok := strings.Cut(s, ".")
	return ok && validSNAName(netid) && validSNAName(nau)
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

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool  { return isLetter(c) || c >= '0' && c <= '9' }

// walker reads an inventory from a YAML node tree, collecting every problem
// with its line and place rather than stopping at the first.
type walker struct {
	errs []error
}

func (w *walker) errorf(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, fmt.Errorf("line %d: %s: %s", n.Line, path, fmt.Sprintf(format, args...)))
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (aliases are not supported)"
	case yaml.ScalarNode:
		return n.ShortTag() + " " + fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// entries calls f for each key and value of the mapping n. A null stands
// for an empty mapping, as an empty "operations:" line reads.
func (w *walker) entries(n *yaml.Node, path string, f func(key string, k, v *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			w.errorf(k, path, "a key must be a plain name, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			w.errorf(k, path+"."+k.Value, "given more than once")
			continue
		}
		seen[k.Value] = true
		f(k.Value, k, v)
	}
}

// fields reads the mapping n into known fields; any other key is an error.
func (w *walker) fields(n *yaml.Node, path string, known map[string]func(v *yaml.Node, path string)) {
	w.entries(n, path, func(key string, k, v *yaml.Node) {
		set := known[key]
		if set == nil {
			w.errorf(k, path, "unknown field %q", key)
			return
		}
		set(v, path+"."+key)
	})
}

// list calls f for each element of the sequence n; null is an empty list.
func (w *walker) list(n *yaml.Node, path string, f func(v *yaml.Node, path string)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		w.errorf(n, path, "want a list, got %s", describe(n))
		return
	}
	for i, c := range n.Content {
		f(c, fmt.Sprintf("%s[%d]", path, i))
	}
}

func (w *walker) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		w.errorf(n, path, "want a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (w *walker) boolean(n *yaml.Node, path string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		w.errorf(n, path, "want true or false, got %s", describe(n))
	}
	return b
}

func (w *walker) integer(n *yaml.Node, path string) int {
	var i int32
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		w.errorf(n, path, "want an integer, got %s", describe(n))
	}
	return int(i)
}

func (w *walker) duration(n *yaml.Node, path string, zeroOK bool) time.Duration {
	s := w.str(n, path)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		w.errorf(n, path, "%q is not a duration such as 3s or 1m30s", s)
	case d < 0:
		w.errorf(n, path, "%q must not be negative", s)
	case d == 0 && !zeroOK:
		w.errorf(n, path, "%q must be more than zero", s)
	}
	return d
}

func (w *walker) inventory(n *yaml.Node) *Inventory {
	inv := &Inventory{}
	if n.Kind != yaml.MappingNode {
		w.errorf(n, "inventory", "want a mapping with cpcs, got %s", describe(n))
		return inv
	}
	w.fields(n, "inventory", map[string]func(*yaml.Node, string){
		"cpcs": func(v *yaml.Node, _ string) {
			w.list(v, "cpcs", func(v *yaml.Node, path string) { inv.CPCs = append(inv.CPCs, w.cpc(v, path)) })
		},
	})
	return inv
}

func (w *walker) cpc(n *yaml.Node, path string) CPC {
	var c CPC
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "want a mapping, got %s", describe(n))
		return c
	}
	w.fields(n, path, map[string]func(*yaml.Node, string){
		"name":        func(v *yaml.Node, p string) { c.Name = w.str(v, p) },
		"object-id":   func(v *yaml.Node, p string) { c.ObjectID = w.str(v, p) },
		"target-name": func(v *yaml.Node, p string) { c.TargetName = w.str(v, p) },
		"status":      func(v *yaml.Node, p string) { c.Status = w.str(v, p) },
		"dpm-enabled": func(v *yaml.Node, p string) { c.DPMEnabled = w.boolean(v, p) },
		"operations":  func(v *yaml.Node, p string) { c.Operations = w.operations(v, p) },
		"logical-partitions": func(v *yaml.Node, p string) {
			w.list(v, p, func(v *yaml.Node, p string) {
				var l LPAR
				w.member(v, p, &l.Name, &l.ObjectID, &l.Status, &l.Operations)
				c.LogicalPartitions = append(c.LogicalPartitions, l)
			})
		},
		"partitions": func(v *yaml.Node, p string) {
			w.list(v, p, func(v *yaml.Node, p string) {
				var pt Partition
				w.member(v, p, &pt.Name, &pt.ObjectID, &pt.Status, &pt.Operations)
				c.Partitions = append(c.Partitions, pt)
			})
		},
	})
	return c
}

func (w *walker) member(n *yaml.Node, path string, name, id, status *string, ops *map[string]Operation) {
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	w.fields(n, path, map[string]func(*yaml.Node, string){
		"name":       func(v *yaml.Node, p string) { *name = w.str(v, p) },
		"object-id":  func(v *yaml.Node, p string) { *id = w.str(v, p) },
		"status":     func(v *yaml.Node, p string) { *status = w.str(v, p) },
		"operations": func(v *yaml.Node, p string) { *ops = w.operations(v, p) },
	})
}

func (w *walker) operations(n *yaml.Node, path string) map[string]Operation {
	ops := map[string]Operation{}
	w.entries(n, path, func(key string, _, v *yaml.Node) {
		ops[key] = w.operation(v, path+"."+key)
	})
	if len(ops) == 0 {
		return nil
	}
	return ops
}

func (w *walker) operation(n *yaml.Node, path string) Operation {
	var op Operation
	if isNull(n) {
		return op
	}
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "want a mapping, got %s", describe(n))
		return op
	}
	w.fields(n, path, map[string]func(*yaml.Node, string){
		"duration":        func(v *yaml.Node, p string) { op.Duration = w.duration(v, p, false) },
		"cancel-duration": func(v *yaml.Node, p string) { op.CancelDuration = w.duration(v, p, true) },
		"cancelable": func(v *yaml.Node, p string) {
			b := w.boolean(v, p)
			op.Cancelable = &b
		},
		"status-code": func(v *yaml.Node, p string) { op.StatusCode = w.integer(v, p) },
		"reason-code": func(v *yaml.Node, p string) { op.ReasonCode = w.integer(v, p) },
		"job-results": func(v *yaml.Node, p string) {
			if isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				w.errorf(v, p, "want a mapping (a JSON object), got %s", describe(v))
				return
			}
			b, err := renderJSON(v)
			if err != nil {
				var ne *nodeError
				if errors.As(err, &ne) {
					w.errs = append(w.errs, fmt.Errorf("line %d: %s: %s", ne.line, p, ne.msg))
				} else {
					w.errorf(v, p, "%v", err)
				}
				return
			}
			op.Results = b
		},
	})
	return op
}
