package simse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// The object tree of an SE, built from its inventory.

// addCPC adds c and everything under it to the object tree.
func (s *SE) addCPC(c CPC) {
	cpc := &object{
		kind: bcpii.KindCPC, id: c.ObjectID, name: c.Name, target: strings.ToUpper(c.TargetName),
		uri: bcpii.Object{Kind: bcpii.KindCPC, ID: c.ObjectID}.URI(), dpm: c.DPMEnabled, ops: cloneOps(c.Operations), status: c.Status,
		props: withProps(cpcClass.defaults(c.DPMEnabled), c.Properties),
	}
	s.cpcs = append(s.cpcs, cpc)
	s.byURI[cpc.uri] = cpc
	add := func(kind, name, id, status string, ops map[string]Operation, perms *bcpii.Permissions) *object {
		name = strings.ToUpper(name)
		o := &object{
			kind: kind, id: id, name: name, target: cpc.target + "." + name,
			uri: bcpii.Object{Kind: kind, ID: id}.URI(), parent: cpc, ops: cloneOps(ops), status: status,
		}
		if kind == bcpii.KindLogicalPartition {
			o.props = lparClass.defaults(false)
		} else {
			o.props = partitionClass.defaults(true)
		}
		cpc.children = append(cpc.children, o)
		s.byURI[o.uri] = o
		p := bcpii.AllowAll
		if perms != nil {
			p = *perms
			p.From = slices.Clone(p.From)
		}
		if t, err := bcpii.ParseTargetName(o.target); err == nil {
			s.perms[t] = p
		}
		return o
	}
	for i, l := range c.LogicalPartitions {
		o := add(bcpii.KindLogicalPartition, l.Name, l.ObjectID, l.Status, l.Operations, l.BCPii)
		maps.Copy(o.props, cloneProps(l.Properties))
		o.nextProfile = strings.ToUpper(l.NextActivationProfile)
		if o.nextProfile == "" {
			o.nextProfile = o.name
		}
		o.lpar = lparState{loadAddress: strings.ToUpper(l.LastUsedLoadAddress), loadParameter: l.LastUsedLoadParameter, number: i + 1}
		if o.status == "operating" {
			s.osStarted(o)
		}
	}
	for _, p := range c.Partitions {
		o := add(bcpii.KindPartition, p.Name, p.ObjectID, p.Status, p.Operations, p.BCPii)
		maps.Copy(o.props, cloneProps(p.Properties))
		o.ptype = p.Type
		if o.ptype == "" {
			o.ptype = "linux"
		}
		if osRunning(o) {
			s.osStarted(o)
		}
	}
	s.addResources(cpc, c)
	cpc.records = make(map[string]*capacityRecord, len(c.CapacityRecords))
	for _, r := range c.CapacityRecords {
		r.SoftwareModels = slices.Clone(r.SoftwareModels)
		r.MaxSteps = maps.Clone(r.MaxSteps)
		cpc.records[r.ID] = &capacityRecord{CapacityRecord: r, uri: cpc.uri + "/capacity-records/" + r.ID}
	}
	if !c.DPMEnabled {
		cpc.profiles = buildProfiles(cpc, c)
	}
	// An LPAR the inventory describes active was activated with its next
	// profile, and one operating was loaded from its image profile's
	// address unless the inventory says which.
	for _, o := range cpc.children {
		if o.kind != bcpii.KindLogicalPartition || o.status == "not-activated" {
			continue
		}
		o.lpar.lastProfile = o.nextProfile
		if img := findProfile(cpc, bcpii.KindImageProfile, o.name); img != nil {
			o.lpar.mode = img.image.OperatingMode
			if o.status == "operating" && o.lpar.loadAddress == "" {
				o.lpar.loadAddress, o.lpar.loadParameter = img.image.LoadAddress, img.image.LoadParameter
			}
		}
	}
}

// addResources adds a DPM CPC's adapters, the virtual switches DPM makes
// for its OSA and HiperSockets adapters, and its storage groups. Their
// target name is their CPC's.
func (s *SE) addResources(cpc *object, c CPC) {
	add := func(kind, name, id string, cls *class, props map[string]any) *object {
		o := &object{kind: kind, id: id, name: name, target: cpc.target, parent: cpc,
			uri: bcpii.Object{Kind: kind, ID: id}.URI(), status: "active", props: withProps(cls.defaults(true), props)}
		cpc.resources = append(cpc.resources, o)
		s.byURI[o.uri] = o
		return o
	}
	for _, a := range c.Adapters {
		o := add(bcpii.KindAdapter, a.Name, a.ObjectID, adapterClass, a.Properties)
		typ := a.Type
		if typ == "" {
			typ = adapterFamilies[a.Family][0]
		}
		o.props["adapter-id"], o.props["adapter-family"], o.props["type"] = strings.ToLower(a.AdapterID), a.Family, typ
		if typ == "osd" || typ == "hipersockets" {
			vs := add(bcpii.KindVirtualSwitch, "PCHID "+strings.ToUpper(a.AdapterID)+" Port 0", derivedID(a.ObjectID, "vswitch-0"), virtualSwitchClass, nil)
			vs.props["type"], vs.props["backing-adapter-uri"] = typ, o.uri
		}
	}
	for _, g := range c.StorageGroups {
		o := add(bcpii.KindStorageGroup, g.Name, g.ObjectID, storageGroupClass, g.Properties)
		if g.Type != "" {
			o.props["type"] = g.Type
		}
	}
}

// withProps is defaults with props (an inventory's) set over them.
func withProps(defaults, props map[string]any) map[string]any {
	maps.Copy(defaults, cloneProps(props))
	return defaults
}

// cloneProps copies props deeply enough that the SE's later changes do
// not reach the inventory's values.
func cloneProps(props map[string]any) map[string]any {
	b, err := json.Marshal(props)
	if err != nil || props == nil {
		return nil
	}
	m, _ := decodeJSON(string(b)).(map[string]any)
	return m
}

// derivedID is a fixed object id for an object the SE makes for another:
// a UUID-shaped hash of the other's id and what it is.
func derivedID(base, what string) string {
	h := sha256.Sum256([]byte(base + "/" + what))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func cloneOps(ops map[string]Operation) map[string]Operation {
	out := make(map[string]Operation, len(ops))
	for k, op := range ops {
		op.Results = bytes.Clone(op.Results)
		if op.Cancelable != nil {
			b := *op.Cancelable
			op.Cancelable = &b
		}
		out[k] = op
	}
	return out
}
