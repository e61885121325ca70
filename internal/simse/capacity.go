package simse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// Temporary capacity: a CPC's capacity records (On/Off CoD, CBU, CPE,
// loaner) say how much capacity may be added for a while; Add Temporary
// Capacity activates some of a record's processors or a higher software
// model, and Remove Temporary Capacity takes them back. The simulated
// CPC's processor counts and software model change with them. The book's
// data model of a record was not at hand; a record answers its
// record-identifier and record-type, whether it is activated, the
// software models and processor steps it allows, and the steps active.

// CapacityRecord is a capacity record of a CPC, in an inventory.
type CapacityRecord struct {
	// ID is the record-identifier, 1 to 8 characters.
	ID string
	// Type is oocod, cbu, cpe or loaner.
	Type string
	// SoftwareModels are the models the record allows.
	SoftwareModels []string
	// MaxSteps are the processor steps it allows, by processor type (aap,
	// ifl, icf, iip, sap, cbp).
	MaxSteps map[string]int
}

// The processor types of processor-info, and the CPC property each
// counts in.
var processorCounts = map[string]string{
	"aap": "processor-count-aap", "ifl": "processor-count-ifl", "icf": "processor-count-icf",
	"iip": "processor-count-iip", "sap": "processor-count-service-assist", "cbp": "processor-count-cbp",
}

var recordTypes = []string{"oocod", "cbu", "cpe", "loaner"}

// capacityRecord is a record of a CPC in the SE, guarded by SE.mu.
type capacityRecord struct {
	CapacityRecord
	uri    string
	active map[string]int // processor steps activated, by type
	model  string         // the software model activated, "" for none
}

func (r *capacityRecord) activated() bool { return len(r.active) > 0 || r.model != "" }

func (r *capacityRecord) properties(cpc *object) map[string]any {
	status := "installed"
	if r.activated() {
		status = "activated"
	}
	info := func(steps map[string]int) []any {
		out := []any{}
		for _, t := range slices.Sorted(maps.Keys(steps)) {
			out = append(out, map[string]any{"processor-type": t, "num-processor-steps": int64(steps[t])})
		}
		return out
	}
	models := []any{}
	for _, m := range r.SoftwareModels {
		models = append(models, m)
	}
	return map[string]any{
		"class": bcpii.KindCapacityRecord, "element-uri": r.uri, "element-id": r.ID, "parent": cpc.uri,
		"record-identifier": r.ID, "record-type": r.Type, "status": status, "software-models": models,
		"maximum-processor-info": info(r.MaxSteps), "activated-processor-info": info(r.active),
		"activated-software-model": nullIfEmpty(r.model),
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// capacityAnswer lists a CPC's capacity records or answers one's
// properties.
func capacityAnswer(cpc *object, m bcpii.Match, q query) (any, error) {
	if !m.Route.List {
		r := cpc.records[m.Element]
		if r == nil {
			return nil, hmcerr.ErrNotFound
		}
		return q.pick(r.properties(cpc))
	}
	items := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(cpc.records)) {
		item := map[string]any{"element-uri": cpc.records[id].uri, "record-identifier": id}
		if !q.origin.IsZero() {
			item["target-name"] = cpc.target
		}
		items = append(items, item)
	}
	return map[string]any{"capacity-record": items}, nil
}

// tempCapacity is an Add or Remove Temporary Capacity body.
type tempCapacity struct {
	RecordID      *string `json:"record-id"`
	SoftwareModel *string `json:"software-model"`
	ProcessorInfo []struct {
		Type  *string `json:"processor-type"`
		Steps *int    `json:"num-processor-steps"`
	} `json:"processor-info"`
	Force *bool `json:"force"`
	Test  *bool `json:"test"`
}

// changeCapacity performs Add (add) or Remove Temporary Capacity on cpc:
// all of the request or none of it. It runs under SE.mu.
func changeCapacity(cpc *object, body []byte, add bool) error {
	var req tempCapacity
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		if strings.Contains(err.Error(), "unknown field") {
			return hmcerr.ErrUnknownField.WithMessage("The request body has a field the operation does not take: %v.", err)
		}
		return hmcerr.ErrInvalidField.WithMessage("The request body does not have the fields of the operation, of their types.")
	}
	if !add && (req.Force != nil || req.Test != nil) {
		return hmcerr.ErrUnknownField.WithMessage("Remove Temporary Capacity takes no force or test field.")
	}
	switch {
	case req.RecordID == nil:
		return hmcerr.ErrFieldMissing.WithMessage("The request body lacks the required field \"record-id\".")
	case add && req.Test == nil:
		return hmcerr.ErrFieldMissing.WithMessage("The request body lacks the required field \"test\".")
	}
	rec := cpc.records[*req.RecordID]
	if rec == nil {
		return hmcerr.ErrInvalidField.WithMessage("The field record-id names no capacity record of the CPC.")
	}
	if !add && !rec.activated() {
		return hmcerr.ErrWrongState.WithMessage("The capacity record %s is not activated: there is no temporary capacity to remove.", rec.ID)
	}
	if add && req.Force != nil && *req.Force && rec.Type == "oocod" {
		return hmcerr.ErrInvalidField.WithMessage("The field force applies to CBU, CPE and loaner records only.")
	}
	steps, err := newSteps(rec, req, add)
	if err != nil {
		return err
	}
	model := rec.model
	if req.SoftwareModel != nil {
		m := *req.SoftwareModel
		switch {
		case add && !slices.Contains(rec.SoftwareModels, m):
			return hmcerr.ErrInvalidField.WithMessage("The record %s does not allow the software model %q.", rec.ID, m)
		case add:
			model = m
		case m != rec.model:
			return hmcerr.ErrInvalidField.WithMessage("The software model %q is not the one the record %s activated.", m, rec.ID)
		default:
			model = ""
		}
	}
	// The request holds: apply it.
	for t, prop := range processorCounts {
		if n, ok := cpc.props[prop].(int64); ok {
			cpc.props[prop] = n + int64(steps[t]-rec.active[t])
		}
	}
	rec.active, rec.model = steps, model
	temp := cpc.props["software-model-permanent"]
	if model != "" {
		temp = model
	}
	cpc.props["software-model-permanent-plus-temporary"] = temp
	if rec.Type == "oocod" {
		cpc.props["is-on-off-cod-activated"] = rec.activated()
	}
	if rec.Type == "cbu" {
		cpc.props["is-cbu-activated"] = rec.activated()
	}
	return nil
}

// newSteps are the processor steps rec has activated once req is applied.
func newSteps(rec *capacityRecord, req tempCapacity, add bool) (map[string]int, error) {
	steps := maps.Clone(rec.active)
	if steps == nil {
		steps = map[string]int{}
	}
	for i, pi := range req.ProcessorInfo {
		where := fmt.Sprintf("processor-info[%d]", i)
		if pi.Type == nil || pi.Steps == nil {
			return nil, hmcerr.ErrFieldMissing.WithMessage("The field %s needs processor-type and num-processor-steps.", where)
		}
		if _, ok := processorCounts[*pi.Type]; !ok {
			return nil, hmcerr.ErrInvalidField.WithMessage("The field %s.processor-type must be one of aap, cbp, icf, ifl, iip, sap.", where)
		}
		n := *pi.Steps
		if n < 1 {
			return nil, hmcerr.ErrInvalidField.WithMessage("The field %s.num-processor-steps must be at least 1.", where)
		}
		if add {
			steps[*pi.Type] += n
		} else {
			steps[*pi.Type] -= n
		}
		switch {
		case steps[*pi.Type] > rec.MaxSteps[*pi.Type]:
			return nil, hmcerr.ErrInvalidField.WithMessage("The record %s allows at most %d %s steps.", rec.ID, rec.MaxSteps[*pi.Type], *pi.Type)
		case steps[*pi.Type] < 0:
			return nil, hmcerr.ErrInvalidField.WithMessage("The record %s has only %d %s steps activated.", rec.ID, rec.active[*pi.Type], *pi.Type)
		case steps[*pi.Type] == 0:
			delete(steps, *pi.Type)
		}
	}
	return steps, nil
}
