package simse

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

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
			l := &c.LogicalPartitions[j]
			l.Name = strings.ToUpper(l.Name)
			l.NextActivationProfile = strings.ToUpper(l.NextActivationProfile)
		}
		for j := range c.ImageProfiles {
			c.ImageProfiles[j].Name = strings.ToUpper(c.ImageProfiles[j].Name)
		}
		for j := range c.LoadProfiles {
			c.LoadProfiles[j].Name = strings.ToUpper(c.LoadProfiles[j].Name)
		}
		for j := range c.ResetProfiles {
			c.ResetProfiles[j].Name = strings.ToUpper(c.ResetProfiles[j].Name)
		}
		for j := range c.Partitions {
			c.Partitions[j].Name = strings.ToUpper(c.Partitions[j].Name)
		}
	}
}

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

// word reads a scalar as its text whatever YAML makes of it, so that a
// device number such as 0100 need not be quoted.
func (w *walker) word(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || isNull(n) {
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
		"console": func(v *yaml.Node, p string) {
			w.mapping(v, p, map[string]func(*yaml.Node, string){
				"hmc-name":    func(v *yaml.Node, p string) { inv.Console.Name = w.str(v, p) },
				"hmc-version": func(v *yaml.Node, p string) { inv.Console.Version = w.str(v, p) },
			})
		},
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
		"name":             func(v *yaml.Node, p string) { c.Name = w.str(v, p) },
		"object-id":        func(v *yaml.Node, p string) { c.ObjectID = w.str(v, p) },
		"target-name":      func(v *yaml.Node, p string) { c.TargetName = w.str(v, p) },
		"status":           func(v *yaml.Node, p string) { c.Status = w.str(v, p) },
		"dpm-enabled":      func(v *yaml.Node, p string) { c.DPMEnabled = w.boolean(v, p) },
		"operations":       func(v *yaml.Node, p string) { c.Operations = w.operations(v, p) },
		"properties":       func(v *yaml.Node, p string) { c.Properties = w.properties(v, p) },
		"adapters":         func(v *yaml.Node, p string) { c.Adapters = w.adapters(v, p) },
		"storage-groups":   func(v *yaml.Node, p string) { c.StorageGroups = w.storageGroups(v, p) },
		"capacity-records": func(v *yaml.Node, p string) { c.CapacityRecords = w.capacityRecords(v, p) },
		"logical-partitions": func(v *yaml.Node, p string) {
			w.list(v, p, func(v *yaml.Node, p string) { c.LogicalPartitions = append(c.LogicalPartitions, w.lpar(v, p)) })
		},
		"partitions": func(v *yaml.Node, p string) {
			w.list(v, p, func(v *yaml.Node, p string) {
				var pt Partition
				w.member(v, p, &pt.Name, &pt.ObjectID, &pt.Status, &pt.Operations, &pt.BCPii, map[string]func(*yaml.Node, string){
					"type":       func(v *yaml.Node, p string) { pt.Type = w.str(v, p) },
					"properties": func(v *yaml.Node, p string) { pt.Properties = w.properties(v, p) },
				})
				c.Partitions = append(c.Partitions, pt)
			})
		},
		"image-activation-profiles": func(v *yaml.Node, p string) {
			w.list(v, p, func(v *yaml.Node, p string) { c.ImageProfiles = append(c.ImageProfiles, w.imageProfile(v, p)) })
		},
		"load-activation-profiles": func(v *yaml.Node, p string) {
			w.list(v, p, func(v *yaml.Node, p string) {
				var lp LoadProfile
				w.mapping(v, p, map[string]func(*yaml.Node, string){
					"name":           func(v *yaml.Node, p string) { lp.Name = w.str(v, p) },
					"description":    func(v *yaml.Node, p string) { lp.Description = w.str(v, p) },
					"load-address":   func(v *yaml.Node, p string) { lp.LoadAddress = w.word(v, p) },
					"load-parameter": func(v *yaml.Node, p string) { lp.LoadParameter = w.word(v, p) },
				})
				c.LoadProfiles = append(c.LoadProfiles, lp)
			})
		},
		"reset-activation-profiles": func(v *yaml.Node, p string) {
			w.list(v, p, func(v *yaml.Node, p string) {
				var rp ResetProfile
				w.mapping(v, p, map[string]func(*yaml.Node, string){
					"name":        func(v *yaml.Node, p string) { rp.Name = w.str(v, p) },
					"description": func(v *yaml.Node, p string) { rp.Description = w.str(v, p) },
				})
				c.ResetProfiles = append(c.ResetProfiles, rp)
			})
		},
	})
	return c
}

func (w *walker) lpar(n *yaml.Node, path string) LPAR {
	var l LPAR
	w.member(n, path, &l.Name, &l.ObjectID, &l.Status, &l.Operations, &l.BCPii, map[string]func(*yaml.Node, string){
		"next-activation-profile-name": func(v *yaml.Node, p string) { l.NextActivationProfile = w.str(v, p) },
		"last-used-load-address":       func(v *yaml.Node, p string) { l.LastUsedLoadAddress = w.word(v, p) },
		"last-used-load-parameter":     func(v *yaml.Node, p string) { l.LastUsedLoadParameter = w.word(v, p) },
		"properties":                   func(v *yaml.Node, p string) { l.Properties = w.properties(v, p) },
	})
	return l
}

// properties reads a mapping of data-model properties to values, any
// JSON; the validator checks them against the object's class.
func (w *walker) properties(n *yaml.Node, path string) map[string]any {
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "want a mapping of properties, got %s", describe(n))
		return nil
	}
	b, err := renderJSON(n)
	if err != nil {
		w.errorf(n, path, "%v", err)
		return nil
	}
	v, _ := decodeJSON(string(b)).(map[string]any)
	return v
}

func (w *walker) imageProfile(n *yaml.Node, path string) ImageProfile {
	var ip ImageProfile
	w.mapping(n, path, map[string]func(*yaml.Node, string){
		"name":               func(v *yaml.Node, p string) { ip.Name = w.str(v, p) },
		"description":        func(v *yaml.Node, p string) { ip.Description = w.str(v, p) },
		"load-at-activation": func(v *yaml.Node, p string) { ip.LoadAtActivation = w.boolean(v, p) },
		"operating-mode":     func(v *yaml.Node, p string) { ip.OperatingMode = w.str(v, p) },
		"load-address":       func(v *yaml.Node, p string) { ip.LoadAddress = w.word(v, p) },
		"load-parameter":     func(v *yaml.Node, p string) { ip.LoadParameter = w.word(v, p) },
	})
	return ip
}

// mapping reads the mapping n into known fields.
func (w *walker) mapping(n *yaml.Node, path string, known map[string]func(*yaml.Node, string)) {
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	w.fields(n, path, known)
}

// member reads what logical partitions and partitions share, and the
// fields of their own in more.
func (w *walker) member(n *yaml.Node, path string, name, id, status *string, ops *map[string]Operation,
	perms **bcpii.Permissions, more map[string]func(*yaml.Node, string)) {
	known := map[string]func(*yaml.Node, string){
		"name":              func(v *yaml.Node, p string) { *name = w.str(v, p) },
		"object-id":         func(v *yaml.Node, p string) { *id = w.str(v, p) },
		"status":            func(v *yaml.Node, p string) { *status = w.str(v, p) },
		"operations":        func(v *yaml.Node, p string) { *ops = w.operations(v, p) },
		"bcpii-permissions": func(v *yaml.Node, p string) { *perms = w.permissions(v, p) },
	}
	for k, f := range more {
		known[k] = f
	}
	w.mapping(n, path, known)
}

// permissions reads a partition's bcpii-permissions: send (default true)
// and accept, which is all (the default), none, or a list of the target
// names of the partitions that may act on it.
func (w *walker) permissions(n *yaml.Node, path string) *bcpii.Permissions {
	p := bcpii.AllowAll
	w.mapping(n, path, map[string]func(*yaml.Node, string){
		"send": func(v *yaml.Node, path string) { p.Send = w.boolean(v, path) },
		"accept": func(v *yaml.Node, path string) {
			if v.Kind == yaml.SequenceNode {
				p.Accept = bcpii.AcceptListed
				w.list(v, path, func(v *yaml.Node, path string) {
					s := w.str(v, path)
					t, err := bcpii.ParseTargetName(s)
					if s != "" && (err != nil || t.IsCPC()) {
						w.errorf(v, path, "%q is not the target name of a partition, NETID.NAU.NAME", s)
						return
					}
					p.From = append(p.From, t)
				})
				return
			}
			switch s := w.str(v, path); s {
			case "all":
				p.Accept = bcpii.AcceptAll
			case "none":
				p.Accept = bcpii.AcceptNone
			case "":
			default:
				w.errorf(v, path, "want all, none or a list of target names, got %q", s)
			}
		},
	})
	return &p
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

func (w *walker) adapters(n *yaml.Node, path string) []Adapter {
	var out []Adapter
	w.list(n, path, func(v *yaml.Node, p string) {
		var a Adapter
		w.mapping(v, p, map[string]func(*yaml.Node, string){
			"name":           func(v *yaml.Node, p string) { a.Name = w.str(v, p) },
			"object-id":      func(v *yaml.Node, p string) { a.ObjectID = w.str(v, p) },
			"adapter-id":     func(v *yaml.Node, p string) { a.AdapterID = w.word(v, p) },
			"adapter-family": func(v *yaml.Node, p string) { a.Family = w.str(v, p) },
			"type":           func(v *yaml.Node, p string) { a.Type = w.str(v, p) },
			"properties":     func(v *yaml.Node, p string) { a.Properties = w.properties(v, p) },
		})
		out = append(out, a)
	})
	return out
}

func (w *walker) storageGroups(n *yaml.Node, path string) []StorageGroup {
	var out []StorageGroup
	w.list(n, path, func(v *yaml.Node, p string) {
		var sg StorageGroup
		w.mapping(v, p, map[string]func(*yaml.Node, string){
			"name":       func(v *yaml.Node, p string) { sg.Name = w.str(v, p) },
			"object-id":  func(v *yaml.Node, p string) { sg.ObjectID = w.str(v, p) },
			"type":       func(v *yaml.Node, p string) { sg.Type = w.str(v, p) },
			"properties": func(v *yaml.Node, p string) { sg.Properties = w.properties(v, p) },
		})
		out = append(out, sg)
	})
	return out
}

func (w *walker) capacityRecords(n *yaml.Node, path string) []CapacityRecord {
	var out []CapacityRecord
	w.list(n, path, func(v *yaml.Node, p string) {
		var r CapacityRecord
		w.mapping(v, p, map[string]func(*yaml.Node, string){
			"record-id":   func(v *yaml.Node, p string) { r.ID = w.word(v, p) },
			"record-type": func(v *yaml.Node, p string) { r.Type = w.str(v, p) },
			"software-models": func(v *yaml.Node, p string) {
				w.list(v, p, func(v *yaml.Node, p string) { r.SoftwareModels = append(r.SoftwareModels, w.word(v, p)) })
			},
			"max-steps": func(v *yaml.Node, p string) {
				r.MaxSteps = map[string]int{}
				w.entries(v, p, func(key string, _, v *yaml.Node) { r.MaxSteps[key] = w.integer(v, p+"."+key) })
			},
		})
		out = append(out, r)
	})
	return out
}
