package bcpii

import (
	"slices"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// The kinds of object, spelled as the HMC's class property spells them.
const (
	KindCPC              = "cpc"
	KindLogicalPartition = "logical-partition"
	KindPartition        = "partition"
	// The activation profiles of a classic-mode CPC, addressed under it.
	KindImageProfile = "image-activation-profile"
	KindLoadProfile  = "load-activation-profile"
	KindResetProfile = "reset-activation-profile"
	// KindConsole is the console the gateway stands for: the HMC itself.
	KindConsole = "console"
	// The objects of a DPM CPC beside its partitions, and the elements of
	// a partition.
	KindAdapter         = "adapter"
	KindStorageGroup    = "storage-group"
	KindVirtualSwitch   = "virtual-switch"
	KindNIC             = "nic"
	KindHBA             = "hba"
	KindVirtualFunction = "virtual-function"
	// KindCapacityRecord is a capacity record of a CPC, addressed under it.
	KindCapacityRecord = "capacity-record"
)

// TargetRule says which X-API-Target-Name a BCPii request must carry. The
// zero value is no rule: CheckTarget refuses every request under it, so
// that a route added without a rule fails closed.
type TargetRule int

const (
	// TargetNone: the request names no target; the header is not looked
	// at (Query API Version, List CPCs).
	TargetNone TargetRule = iota + 1
	// TargetCPC: the request is addressed to a CPC or to something under
	// it (its lists of partitions) and names that CPC.
	TargetCPC
	// TargetPartition: the request is addressed to a logical partition or
	// a partition and names it.
	TargetPartition
)

// Route is one request of the HMC Web Services API that the gateway serves
// over BCPii, apart from the job requests.
type Route struct {
	// Method is the HTTP method, upper case.
	Method string
	// Pattern is the path; the segment {id} stands for any one non-empty
	// segment, an object id, and {name} for the name of an element of
	// that object (an activation profile of a CPC).
	Pattern string
	// Name is the HMC's name of the request.
	Name string
	// Kind is the kind of object the request reads or acts on; for a
	// listing, the kind of the objects listed. It is "" for Query API
	// Version, which the gateway answers itself, never a backend.
	Kind string
	// List marks listings: the answer lists the objects of Kind.
	List bool
	// Action is the name under .../operations/ of an operation, which
	// starts a job; "" for a query or a Sync request.
	Action string
	// Sync marks a POST that changes something at once and answers
	// without a job (Update ... Properties, Send OS Command).
	Sync bool
	// Target is the X-API-Target-Name rule.
	Target TargetRule
	// Cancelable says whether the operation's job supports Cancel Job
	// unless a backend knows better.
	Cancelable bool
	// Query lists the query parameters the request accepts.
	Query []string
	// Body lists the request body fields the request reads, with their
	// JSON types: the one declaration the simulated SE's checks, the
	// OpenAPI document and bcpiictl's flags follow. A field not listed is
	// accepted and ignored, as the HMC defines many more than a simulator
	// uses.
	Body []BodyField
}

// BodyField is a field of a request body.
type BodyField struct {
	Name string
	// Type is the JSON type: "string", "boolean" or "integer" (not
	// negative).
	Type string
	// Required fields must be in the body; a body without one is 400.5.
	Required bool
}

// The body fields of the operations, as the HMC book gives them.
var (
	forceField = BodyField{Name: "force", Type: "boolean"}
	tokenField = BodyField{Name: "os-ipl-token", Type: "string"}
	scsiBody   = []BodyField{
		{Name: "load-address", Type: "string", Required: true}, {Name: "world-wide-port-name", Type: "string", Required: true},
		{Name: "logical-unit-number", Type: "string", Required: true}, {Name: "load-parameter", Type: "string"},
		{Name: "disk-partition-id", Type: "integer"}, {Name: "operating-system-specific-load-parameters", Type: "string"},
		{Name: "boot-record-logical-block-address", Type: "string"}, tokenField, {Name: "clear-indicator", Type: "boolean"},
		forceField, {Name: "secure-boot", Type: "boolean"},
	}
	nvmeBody = []BodyField{
		{Name: "load-address", Type: "string", Required: true}, {Name: "load-parameter", Type: "string"},
		{Name: "disk-partition-id", Type: "integer"}, {Name: "operating-system-specific-load-parameters", Type: "string"},
		{Name: "boot-record-logical-block-address", Type: "string"}, {Name: "clear-indicator", Type: "boolean"},
		forceField, {Name: "secure-boot", Type: "boolean"},
	}
)

// The query parameters of the requests, as the HMC book gives them.
var (
	// nameFilter is the query of most listings: the HMC's name filter, a
	// regular expression the whole name must match.
	nameFilter = []string{"name"}
	// getProperties is the query of Get Properties: a comma-separated
	// list of the properties wanted, and whether a cached value will do.
	getProperties = []string{"properties", "cached-acceptable"}
	// imageProfileQuery is List Image Activation Profiles' query: the name
	// filter, and properties each entry is to carry besides element-uri
	// and name.
	imageProfileQuery = []string{"name", "additional-properties"}
	// listQuery is the name filter with additional-properties: the
	// properties each entry is to carry besides its own (API 4.10).
	listQuery = []string{"name", "additional-properties"}
	// partitionListQuery is List Partitions of a CPC's query.
	partitionListQuery = []string{"name", "status", "type", "additional-properties"}
	// permittedLPARQuery and permittedPartitionQuery are the console's
	// List Permitted ... filters.
	permittedLPARQuery      = []string{"name", "cpc-name", "activation-mode", "status", "has-unacceptable-status", "additional-properties"}
	permittedPartitionQuery = []string{"name", "cpc-name", "type", "status", "has-unacceptable-status", "additional-properties"}
	adapterQuery            = []string{"name", "adapter-id", "adapter-family", "type", "status", "additional-properties"}
	virtualSwitchQuery      = []string{"name", "type", "additional-properties"}
	storageGroupQuery       = []string{"cpc-uri", "name", "fulfillment-state", "type"}
	// osMessageQuery is List OS Messages' query.
	osMessageQuery = []string{"begin-sequence-number", "end-sequence-number", "is-held", "is-priority", "max-messages"}
)

// routes is the route table. Patterns are distinct and none overlaps
// another, so at most one route matches a path per method.
var routes = []Route{
	{Method: "GET", Pattern: "/api/version", Name: "Query API Version", Target: TargetNone},
	{Method: "GET", Pattern: "/api/console", Name: "Get Console Properties", Kind: KindConsole, Target: TargetNone, Query: getProperties},
	{Method: "POST", Pattern: "/api/services/metrics/context", Name: "Create Metrics Context", Kind: KindConsole, Target: TargetNone},
	{Method: "GET", Pattern: "/api/cpcs", Name: "List CPC Objects", Kind: KindCPC, List: true, Target: TargetNone, Query: nameFilter},
	{Method: "GET", Pattern: "/api/console/operations/list-permitted-logical-partitions", Name: "List Permitted Logical Partitions", Kind: KindLogicalPartition, List: true, Target: TargetNone, Query: permittedLPARQuery},
	{Method: "GET", Pattern: "/api/console/operations/list-permitted-partitions", Name: "List Permitted Partitions", Kind: KindPartition, List: true, Target: TargetNone, Query: permittedPartitionQuery},
	{Method: "GET", Pattern: "/api/console/operations/list-features", Name: "List Console API Features", Kind: KindConsole, List: true, Target: TargetNone, Query: nameFilter},
	{Method: "GET", Pattern: "/api/cpcs/{id}/operations/list-features", Name: "List CPC API Features", Kind: KindCPC, List: true, Target: TargetCPC, Query: nameFilter},
	{Method: "GET", Pattern: "/api/console/operations/list-unmanaged-cpcs", Name: "List Unmanaged CPCs", Kind: KindCPC, List: true, Target: TargetNone, Query: nameFilter},
	{Method: "POST", Pattern: "/api/cpcs/{id}", Name: "Update CPC Properties", Kind: KindCPC, Sync: true, Target: TargetCPC},
	{Method: "GET", Pattern: "/api/cpcs/{id}/capacity-records", Name: "List Capacity Records", Kind: KindCapacityRecord, List: true, Target: TargetCPC},
	{Method: "GET", Pattern: "/api/cpcs/{id}/capacity-records/{name}", Name: "Get Capacity Record Properties", Kind: KindCapacityRecord, Target: TargetCPC, Query: getProperties},
	{Method: "POST", Pattern: "/api/cpcs/{id}/operations/add-temp-capacity", Name: "Add Temporary Capacity", Kind: KindCPC, Sync: true, Target: TargetCPC},
	{Method: "POST", Pattern: "/api/cpcs/{id}/operations/remove-temp-capacity", Name: "Remove Temporary Capacity", Kind: KindCPC, Sync: true, Target: TargetCPC},
	{Method: "GET", Pattern: "/api/cpcs/{id}", Name: "Get CPC Properties", Kind: KindCPC, Target: TargetCPC, Query: getProperties},
	{Method: "GET", Pattern: "/api/cpcs/{id}/logical-partitions", Name: "List Logical Partitions of CPC", Kind: KindLogicalPartition, List: true, Target: TargetCPC, Query: listQuery},
	{Method: "GET", Pattern: "/api/cpcs/{id}/partitions", Name: "List Partitions of a CPC", Kind: KindPartition, List: true, Target: TargetCPC, Query: partitionListQuery},
	{Method: "GET", Pattern: "/api/cpcs/{id}/adapters", Name: "List Adapters of a CPC", Kind: KindAdapter, List: true, Target: TargetCPC, Query: adapterQuery},
	{Method: "GET", Pattern: "/api/adapters/{id}", Name: "Get Adapter Properties", Kind: KindAdapter, Target: TargetCPC, Query: getProperties},
	{Method: "GET", Pattern: "/api/cpcs/{id}/virtual-switches", Name: "List Virtual Switches of a CPC", Kind: KindVirtualSwitch, List: true, Target: TargetCPC, Query: virtualSwitchQuery},
	{Method: "GET", Pattern: "/api/virtual-switches/{id}", Name: "Get Virtual Switch Properties", Kind: KindVirtualSwitch, Target: TargetCPC, Query: getProperties},
	{Method: "GET", Pattern: "/api/storage-groups", Name: "List Storage Groups", Kind: KindStorageGroup, List: true, Target: TargetNone, Query: storageGroupQuery},
	{Method: "GET", Pattern: "/api/storage-groups/{id}", Name: "Get Storage Group Properties", Kind: KindStorageGroup, Target: TargetCPC, Query: getProperties},
	{Method: "GET", Pattern: "/api/cpcs/{id}/image-activation-profiles", Name: "List Image Activation Profiles", Kind: KindImageProfile, List: true, Target: TargetCPC, Query: imageProfileQuery},
	{Method: "GET", Pattern: "/api/cpcs/{id}/image-activation-profiles/{name}", Name: "Get Image Activation Profile Properties", Kind: KindImageProfile, Target: TargetCPC, Query: getProperties},
	{Method: "POST", Pattern: "/api/cpcs/{id}/image-activation-profiles/{name}", Name: "Update Image Activation Profile Properties", Kind: KindImageProfile, Sync: true, Target: TargetCPC},
	{Method: "GET", Pattern: "/api/cpcs/{id}/load-activation-profiles", Name: "List Load Activation Profiles", Kind: KindLoadProfile, List: true, Target: TargetCPC, Query: nameFilter},
	{Method: "GET", Pattern: "/api/cpcs/{id}/load-activation-profiles/{name}", Name: "Get Load Activation Profile Properties", Kind: KindLoadProfile, Target: TargetCPC, Query: getProperties},
	{Method: "POST", Pattern: "/api/cpcs/{id}/load-activation-profiles/{name}", Name: "Update Load Activation Profile Properties", Kind: KindLoadProfile, Sync: true, Target: TargetCPC},
	{Method: "GET", Pattern: "/api/cpcs/{id}/reset-activation-profiles", Name: "List Reset Activation Profiles", Kind: KindResetProfile, List: true, Target: TargetCPC, Query: nameFilter},
	{Method: "GET", Pattern: "/api/cpcs/{id}/reset-activation-profiles/{name}", Name: "Get Reset Activation Profile Properties", Kind: KindResetProfile, Target: TargetCPC, Query: getProperties},
	{Method: "POST", Pattern: "/api/cpcs/{id}/reset-activation-profiles/{name}", Name: "Update Reset Activation Profile Properties", Kind: KindResetProfile, Sync: true, Target: TargetCPC},
	{Method: "GET", Pattern: "/api/logical-partitions/{id}", Name: "Get Logical Partition Properties", Kind: KindLogicalPartition, Target: TargetPartition, Query: getProperties},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}", Name: "Update Logical Partition Properties", Kind: KindLogicalPartition, Sync: true, Target: TargetPartition},
	{Method: "GET", Pattern: "/api/logical-partitions/{id}/operations/list-os-messages", Name: "List OS Messages of a Logical Partition", Kind: KindLogicalPartition, Target: TargetPartition, Query: osMessageQuery},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/send-os-cmd", Name: "Send OS Command", Kind: KindLogicalPartition, Sync: true, Target: TargetPartition},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/open-os-message-channel", Name: "Open OS Message Channel", Kind: KindLogicalPartition, Sync: true, Target: TargetPartition},
	{Method: "GET", Pattern: "/api/partitions/{id}/operations/list-os-messages", Name: "List OS Messages of a Partition", Kind: KindPartition, Target: TargetPartition, Query: osMessageQuery},
	{Method: "POST", Pattern: "/api/partitions/{id}/operations/send-os-cmd", Name: "Send OS Command", Kind: KindPartition, Sync: true, Target: TargetPartition},
	{Method: "POST", Pattern: "/api/partitions/{id}/operations/open-os-message-channel", Name: "Open OS Message Channel", Kind: KindPartition, Sync: true, Target: TargetPartition},
	{Method: "GET", Pattern: "/api/partitions/{id}", Name: "Get Partition Properties", Kind: KindPartition, Target: TargetPartition, Query: getProperties},
	{Method: "GET", Pattern: "/api/partitions/{id}/nics/{name}", Name: "Get NIC Properties", Kind: KindNIC, Target: TargetPartition, Query: getProperties},
	{Method: "GET", Pattern: "/api/partitions/{id}/hbas/{name}", Name: "Get HBA Properties", Kind: KindHBA, Target: TargetPartition, Query: getProperties},
	{Method: "GET", Pattern: "/api/partitions/{id}/virtual-functions/{name}", Name: "Get Virtual Function Properties", Kind: KindVirtualFunction, Target: TargetPartition, Query: getProperties},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/activate", Name: "Activate Logical Partition", Kind: KindLogicalPartition, Action: "activate", Target: TargetPartition,
		Body: []BodyField{{Name: "activation-profile-name", Type: "string"}, forceField}},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/deactivate", Name: "Deactivate Logical Partition", Kind: KindLogicalPartition, Action: "deactivate", Target: TargetPartition, Body: []BodyField{forceField}},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/load", Name: "Load Logical Partition", Kind: KindLogicalPartition, Action: "load", Target: TargetPartition,
		Body: []BodyField{{Name: "load-address", Type: "string"}, {Name: "load-parameter", Type: "string"}, {Name: "clear-indicator", Type: "boolean"},
			{Name: "store-status-indicator", Type: "boolean"}, forceField}},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/stop", Name: "Stop Logical Partition", Kind: KindLogicalPartition, Action: "stop", Target: TargetPartition},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/start", Name: "Start Logical Partition", Kind: KindLogicalPartition, Action: "start", Target: TargetPartition},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/reset-normal", Name: "Reset Normal", Kind: KindLogicalPartition, Action: "reset-normal", Target: TargetPartition, Body: []BodyField{forceField, tokenField}},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/reset-clear", Name: "Reset Clear", Kind: KindLogicalPartition, Action: "reset-clear", Target: TargetPartition, Body: []BodyField{forceField, tokenField}},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/psw-restart", Name: "PSW Restart", Kind: KindLogicalPartition, Action: "psw-restart", Target: TargetPartition},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/scsi-load", Name: "SCSI Load", Kind: KindLogicalPartition, Action: "scsi-load", Target: TargetPartition, Body: scsiBody},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/scsi-dump", Name: "SCSI Dump", Kind: KindLogicalPartition, Action: "scsi-dump", Target: TargetPartition, Body: scsiBody},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/nvme-load", Name: "NVMe Load", Kind: KindLogicalPartition, Action: "nvme-load", Target: TargetPartition, Body: nvmeBody},
	{Method: "POST", Pattern: "/api/logical-partitions/{id}/operations/nvme-dump", Name: "NVMe Dump", Kind: KindLogicalPartition, Action: "nvme-dump", Target: TargetPartition, Body: nvmeBody},
	{Method: "POST", Pattern: "/api/partitions/{id}/operations/start", Name: "Start Partition", Kind: KindPartition, Action: "start", Target: TargetPartition, Cancelable: true},
	{Method: "POST", Pattern: "/api/partitions/{id}/operations/stop", Name: "Stop Partition", Kind: KindPartition, Action: "stop", Target: TargetPartition, Cancelable: true},
	{Method: "POST", Pattern: "/api/cpcs/{id}/operations/start", Name: "Start CPC", Kind: KindCPC, Action: "start", Target: TargetCPC},
	{Method: "POST", Pattern: "/api/cpcs/{id}/operations/stop", Name: "Stop CPC", Kind: KindCPC, Action: "stop", Target: TargetCPC},
}

// collections are the URI collections of the kinds of object.
var collections = map[string]string{
	"cpcs":               KindCPC,
	"logical-partitions": KindLogicalPartition,
	"partitions":         KindPartition,
	"adapters":           KindAdapter,
	"storage-groups":     KindStorageGroup,
	"virtual-switches":   KindVirtualSwitch,
}

// routeSegments are the patterns of routes, split on "/".
var routeSegments = func() [][]string {
	segs := make([][]string, len(routes))
	for i, r := range routes {
		segs[i] = strings.Split(r.Pattern, "/")
	}
	return segs
}()

// Routes returns the route table, a copy the caller may change.
func Routes() []Route {
	out := slices.Clone(routes)
	for i := range out {
		out[i].Query = slices.Clone(out[i].Query)
	}
	return out
}

// Actions returns the names of the operations objects of kind take, in the
// order of the route table.
func Actions(kind string) []string {
	var names []string
	for _, r := range routes {
		if r.Kind == kind && r.Action != "" {
			names = append(names, r.Action)
		}
	}
	return names
}

// Object is an object a request URI addresses.
type Object struct {
	// Kind is KindCPC, KindLogicalPartition or KindPartition.
	Kind string
	// ID is the object id as the URI spells it, not percent-decoded.
	ID string
}

// IsZero reports whether o is no object.
func (o Object) IsZero() bool { return o == Object{} }

// URI is the object's URI, /api/{collection}/{id}; "" for the zero Object.
func (o Object) URI() string {
	if o.IsZero() {
		return ""
	}
	return "/api/" + Collection(o.Kind) + "/" + o.ID
}

// Collection returns the URI collection of the objects of kind:
// "cpcs", "logical-partitions" or "partitions"; "" for another kind.
func Collection(kind string) string {
	for c, k := range collections {
		if k == kind {
			return c
		}
	}
	return ""
}

// Addressed returns the object a request URI addresses, as the target rule
// sees it: the CPC for /api/cpcs/{id} and anything under it, the logical
// partition or partition for /api/logical-partitions/{id} or
// /api/partitions/{id} and anything under them, the adapter, storage group
// or virtual switch of /api/adapters/{id}, /api/storage-groups/{id} or
// /api/virtual-switches/{id} (whose target is their CPC's). It reports
// false for any other URI, List CPCs included, whether or not a route
// matches it.
func Addressed(uri string) (Object, bool) {
	path, _, _ := strings.Cut(uri, "?")
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		return Object{}, false
	}
	segs := strings.SplitN(rest, "/", 3)
	kind := collections[segs[0]]
	if kind == "" || len(segs) < 2 || segs[1] == "" {
		return Object{}, false
	}
	return Object{Kind: kind, ID: segs[1]}, true
}

// Match is a request matched against the route table.
type Match struct {
	Route Route
	// Object is what the request addresses; zero for Query API Version
	// and List CPCs.
	Object Object
	// Element is the name an element's route ({name}) gives, as the URI
	// spells it, not percent-decoded; "" for other routes.
	Element string
	// Query is the raw query after '?', "" when there is none.
	Query string
}

// MatchOperation matches a request's method and URI (path and query, as
// received) against the route table, in the HMC's order: a path no route
// has is hmcerr.ErrNotFound (404.1), and a path that routes have only with
// other methods is hmcerr.ErrMethodNotAllowed (405.0). The query is not
// judged here. The path is matched as received, not percent-decoded. It
// covers the requests a backend serves, every route but Query API
// Version: the gateway answers that one itself, so here /api/version is
// an unknown path whatever the method.
func MatchOperation(method, uri string) (Match, error) { return match(method, uri, false) }

func match(method, uri string, version bool) (Match, error) {
	path, query, _ := strings.Cut(uri, "?")
	parts := strings.Split(path, "/")
	known := false
	for i, segs := range routeSegments {
		if routes[i].Kind == "" && !version {
			continue
		}
		obj, elem, ok := matchSegments(segs, parts)
		if !ok {
			continue
		}
		if routes[i].Method != method {
			known = true
			continue
		}
		r := routes[i]
		r.Query = slices.Clone(r.Query)
		return Match{Route: r, Object: obj, Element: elem, Query: query}, nil
	}
	if known {
		return Match{}, hmcerr.ErrMethodNotAllowed
	}
	return Match{}, hmcerr.ErrNotFound
}

// matchSegments matches the parts of a path against a pattern's segments
// and returns the object its {id} names and the element its {name} names.
func matchSegments(segs, parts []string) (obj Object, elem string, ok bool) {
	if len(parts) != len(segs) {
		return Object{}, "", false
	}
	for i, seg := range segs {
		switch seg {
		case "{id}", "{name}":
			if parts[i] == "" {
				return Object{}, "", false
			}
			if seg == "{id}" {
				obj = Object{Kind: collections[segs[i-1]], ID: parts[i]}
			} else {
				elem = parts[i]
			}
			continue
		}
		if parts[i] != seg {
			return Object{}, "", false
		}
	}
	return obj, elem, true
}

// Resolver tells the target name of the object at an object URI
// (/api/{collection}/{id}), if it knows that object.
type Resolver func(objectURI string) (TargetName, bool)

var errWrongObjectTarget = hmcerr.ErrBadTargetName.WithMessage(
	"The X-API-Target-Name header does not name the object the request addresses.")

// CheckTarget applies the route's target rule to a request from a
// requesting partition whose X-API-Target-Name is header (present says
// whether there was one). It returns the target the request names, which
// the job it starts remembers; the zero TargetName when the rule asks for
// none, or when resolve does not know the object: an unknown object is the
// backend's 404.1, which comes before 400.2. Its errors are
// hmcerr.ErrBadTargetName (400.2).
func (m Match) CheckTarget(header string, present bool, resolve Resolver) (TargetName, error) {
	switch m.Route.Target {
	case TargetNone:
		return TargetName{}, nil
	case TargetCPC, TargetPartition:
	default:
		return TargetName{}, errWrongObjectTarget
	}
	obj, ok := resolve(m.Object.URI())
	if !ok {
		return TargetName{}, nil
	}
	named, err := TargetFromHeader(header, present)
	if err != nil {
		return TargetName{}, err
	}
	if obj.IsCPC() != (m.Route.Target == TargetCPC) || !obj.Equal(named) {
		return TargetName{}, errWrongObjectTarget
	}
	return named, nil
}
