package simse_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// getJSON answers a GET as a map.
func (h *harness) getJSON(owner jobs.Owner, uri string) map[string]any {
	h.t.Helper()
	resp, err := h.invoke(owner, "GET", uri, "")
	if err != nil || resp.Status != 200 {
		h.t.Fatalf("GET %s: %+v, %v", uri, resp, err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		h.t.Fatal(err)
	}
	return m
}

// wantTypes checks that m has each property of want, of its JSON type:
// "s" string, "b" boolean, "n" number, "a" array, "o" object, "s?" string
// or null.
func wantTypes(t *testing.T, what string, m map[string]any, want map[string]string) {
	t.Helper()
	for name, typ := range want {
		v, ok := m[name]
		if !ok {
			t.Errorf("%s has no %s", what, name)
			continue
		}
		if v == nil && strings.HasSuffix(typ, "?") {
			continue
		}
		var got string
		switch v.(type) {
		case string:
			got = "s"
		case bool:
			got = "b"
		case float64:
			got = "n"
		case []any:
			got = "a"
		case map[string]any:
			got = "o"
		}
		if got != strings.TrimSuffix(typ, "?") {
			t.Errorf("%s.%s = %#v, want type %s", what, name, v, typ)
		}
	}
}

// TestDataModel: each object answers the HMC data model's properties that
// IBM's tools read, with their types: a CPC's machine and versions, an
// LPAR's operating system and weights, a partition's element lists, a
// profile's load settings, the adapters, virtual switches and storage
// groups of a DPM CPC.
func TestDataModel(t *testing.T) {
	h := newHarness(t, "")
	wantTypes(t, "CPC1", h.getJSON(alice, "/api/cpcs/"+cpc1), map[string]string{
		"se-version": "s", "machine-type": "s", "machine-model": "s", "machine-serial-number": "s", "description": "s",
		"dpm-enabled": "b", "iml-mode": "s", "status": "s", "has-unacceptable-status": "b", "acceptable-status": "a",
		"processor-count-general-purpose": "n", "processor-count-ifl": "n", "storage-customer": "n", "parent": "s?",
		"next-activation-profile-name": "s", "is-locked": "b", "available-features-list": "a",
	})
	cpc2Props := h.getJSON(alice, "/api/cpcs/"+cpc2)
	wantTypes(t, "CPC2", cpc2Props, map[string]string{"auto-start-list": "a", "iml-mode": "s"})
	if _, ok := cpc2Props["next-activation-profile-name"]; ok || cpc2Props["iml-mode"] != "dpm" {
		t.Errorf("a DPM CPC has classic properties: %v", cpc2Props)
	}
	lp1Props := h.getJSON(alice, "/api/logical-partitions/"+lpar1)
	wantTypes(t, "LP1", lp1Props, map[string]string{
		"description": "s", "os-type": "s?", "os-name": "s?", "os-level": "s?", "partition-number": "s?",
		"activation-mode": "s", "initial-processing-weight": "n?", "absolute-processing-capping": "o",
		"defined-capacity": "n?", "workload-manager-enabled": "b", "has-operating-system-messages": "b?",
		"last-used-load-type": "s", "acceptable-status": "a",
	})
	if lp1Props["os-name"] != "LP1" || lp1Props["partition-number"] != "01" {
		t.Errorf("operating LP1: os-name %v, partition-number %v", lp1Props["os-name"], lp1Props["partition-number"])
	}
	if lp2 := h.getJSON(alice, "/api/logical-partitions/"+lpar2); lp2["os-name"] != nil || lp2["partition-number"] != nil {
		t.Errorf("not-activated LP2 has os-name %v, partition-number %v", lp2["os-name"], lp2["partition-number"])
	}
	wantTypes(t, "PART1", h.getJSON(alice, "/api/partitions/"+part1), map[string]string{
		"hba-uris": "a", "nic-uris": "a", "virtual-function-uris": "a", "storage-group-uris": "a", "crypto-configuration": "o?",
		"boot-storage-volume": "s?", "short-name": "s", "ifl-processors": "n", "initial-memory": "n", "description": "s",
	})
	wantTypes(t, "image profile LP1", h.getJSON(alice, "/api/cpcs/"+cpc1+"/image-activation-profiles/LP1"), map[string]string{
		"load-at-activation": "b", "operating-mode": "s", "ipl-address": "s", "ipl-parameter": "s", "central-storage": "n",
	})
	adapters := h.getJSON(alice, "/api/cpcs/"+cpc2+"/adapters")["adapters"].([]any)
	if len(adapters) != 2 {
		t.Fatalf("CPC2 adapters %v", adapters)
	}
	osa := adapters[0].(map[string]any)
	wantTypes(t, "adapter list entry", osa, map[string]string{"object-uri": "s", "name": "s", "adapter-id": "s", "adapter-family": "s", "type": "s", "status": "s"})
	wantTypes(t, "adapter", h.getJSON(alice, osa["object-uri"].(string)), map[string]string{"parent": "s", "class": "s", "port-count": "n"})
	vs := h.getJSON(alice, "/api/cpcs/"+cpc2+"/virtual-switches")["virtual-switches"].([]any)
	if len(vs) != 1 {
		t.Fatalf("CPC2 virtual switches %v: one for its OSA adapter", vs)
	}
	vsw := h.getJSON(alice, vs[0].(map[string]any)["object-uri"].(string))
	if vsw["backing-adapter-uri"] != osa["object-uri"] || vsw["port"] != 0.0 {
		t.Errorf("virtual switch %v", vsw)
	}
	sgs := h.getJSON(alice, "/api/storage-groups?cpc-uri=%2Fapi%2Fcpcs%2F"+cpc2)["storage-groups"].([]any)
	if len(sgs) != 1 || sgs[0].(map[string]any)["cpc-uri"] != "/api/cpcs/"+cpc2 {
		t.Fatalf("storage groups of CPC2: %v", sgs)
	}
	if sgs := h.getJSON(alice, "/api/storage-groups?cpc-uri=%2Fapi%2Fcpcs%2F"+cpc1)["storage-groups"].([]any); len(sgs) != 0 {
		t.Errorf("storage groups of classic CPC1: %v", sgs)
	}
	// A classic CPC answers the DPM lists empty, as zhmcclient's facts
	// expect of an HMC.
	for _, list := range []string{"adapters", "virtual-switches", "partitions"} {
		if got := h.getJSON(alice, "/api/cpcs/"+cpc1+"/"+list)[list].([]any); len(got) != 0 {
			t.Errorf("CPC1 %s: %v", list, got)
		}
	}
	// additional-properties on the CPC's lists.
	lpars := h.getJSON(alice, "/api/cpcs/"+cpc1+"/logical-partitions?additional-properties=activation-mode,os-type")["logical-partitions"].([]any)
	if first := lpars[0].(map[string]any); first["activation-mode"] != "general" || first["os-type"] != "MVS" {
		t.Errorf("LPAR list with additional-properties: %v", first)
	}
	_, err := h.invoke(alice, "GET", "/api/cpcs/"+cpc2+"/partitions?additional-properties=no-such", "")
	checkHMCError(t, err, 400, 14)
}

// TestUpdateProperties: Update LPAR, CPC and profile properties change
// what Get Properties answers and what the next operation does; a refused
// update, whatever it holds besides, changes nothing.
func TestUpdateProperties(t *testing.T) {
	h := newHarness(t, "")
	lp1URI, lp3URI := "/api/logical-partitions/"+lpar1, "/api/logical-partitions/"+lpar3
	update := func(uri, body string) error {
		t.Helper()
		resp, err := h.invoke(alice, "POST", uri, body)
		if err == nil && (resp.Status != 204 || len(resp.Body) != 0) {
			t.Fatalf("POST %s answered %+v", uri, resp)
		}
		return err
	}
	if err := update(lp1URI, `{"initial-processing-weight":50,"absolute-processing-capping":{"type":"processors","value":1.5},"defined-capacity":120}`); err != nil {
		t.Fatal(err)
	}
	p := h.getJSON(alice, lp1URI)
	if p["initial-processing-weight"] != 50.0 || p["current-processing-weight"] != 50.0 || p["defined-capacity"] != 120.0 {
		t.Errorf("after the update: %v %v %v", p["initial-processing-weight"], p["current-processing-weight"], p["defined-capacity"])
	}
	for _, c := range []struct {
		body           string
		status, reason int
	}{
		{``, 400, 3},
		{`[]`, 400, 7},
		{`{"initial-processing-weight":60,"no-such-property":1}`, 400, 6},
		{`{"initial-processing-weight":60,"name":"LPX"}`, 400, 6}, // read-only
		{`{"initial-processing-weight":60,"description":"x"}`, 400, 6},
		{`{"initial-processing-weight":"60"}`, 400, 7},
		{`{"initial-processing-weight":60,"maximum-processing-weight":1000}`, 400, 7},
		{`{"initial-processing-weight":60,"absolute-processing-capping":{"type":"lots"}}`, 400, 7},
		{`{"initial-processing-weight":60,"next-activation-profile-name":"NOPE"}`, 400, 7},
		{`{"initial-processing-weight":60,"workload-manager-enabled":null}`, 400, 7},
	} {
		checkHMCError(t, update(lp1URI, c.body), c.status, c.reason)
	}
	if w := h.getJSON(alice, lp1URI)["initial-processing-weight"]; w != 50.0 {
		t.Errorf("refused updates changed the weight to %v", w)
	}
	checkHMCError(t, update("/api/logical-partitions/nosuch", `{"defined-capacity":1}`), 404, 1)
	// A partition not activated takes only its next profile.
	checkHMCError(t, update("/api/logical-partitions/"+lpar2, `{"initial-processing-weight":20}`), 409, 1)
	if err := update("/api/logical-partitions/"+lpar2, `{"next-activation-profile-name":"zosload"}`); err != nil {
		t.Fatal(err)
	}
	id := h.start(alice, lparOp(lpar2, "activate"), "")
	h.clock.Advance(3 * time.Second)
	h.ended(alice, id)
	if lp2 := h.getJSON(alice, "/api/logical-partitions/"+lpar2); lp2["status"] != "operating" || lp2["last-used-activation-profile"] != "ZOSLOAD" {
		t.Errorf("LP2 activated with its next profile ZOSLOAD (a load profile): %v %v", lp2["status"], lp2["last-used-activation-profile"])
	}
	// An image profile updated to load at activation loads LP3 when it is
	// activated again.
	img := "/api/cpcs/" + cpc1 + "/image-activation-profiles/LP3"
	checkHMCError(t, update(img, `{"load-at-activation":true,"operating-mode":"zos"}`), 400, 7)
	checkHMCError(t, update(img, `{"ipl-address":"12"}`), 400, 7)
	checkHMCError(t, update("/api/cpcs/"+cpc1+"/image-activation-profiles/NOPE", `{"description":"x"}`), 404, 1)
	if err := update(img, `{"load-at-activation":true,"ipl-address":"0b00","description":"loads"}`); err != nil {
		t.Fatal(err)
	}
	if prof := h.getJSON(alice, img); prof["load-at-activation"] != true || prof["ipl-address"] != "0B00" || prof["description"] != "loads" {
		t.Errorf("profile after update: %v", prof)
	}
	id = h.start(alice, lparOp(lpar3, "activate"), `{"force":true}`)
	h.clock.Advance(3 * time.Second)
	h.ended(alice, id)
	if lp3 := h.getJSON(alice, lp3URI); lp3["status"] != "operating" || lp3["last-used-load-address"] != "0B00" {
		t.Errorf("LP3 after activation with a loading profile: %v %v", lp3["status"], lp3["last-used-load-address"])
	}
	// The CPC.
	if err := update("/api/cpcs/"+cpc1, `{"description":"Production","processor-running-time-type":"user-determined","processor-running-time":25}`); err != nil {
		t.Fatal(err)
	}
	if c := h.getJSON(alice, "/api/cpcs/"+cpc1); c["description"] != "Production" || c["processor-running-time"] != 25.0 {
		t.Errorf("CPC after update: %v %v", c["description"], c["processor-running-time"])
	}
	checkHMCError(t, update("/api/cpcs/"+cpc1, `{"machine-type":"2964"}`), 400, 6)
	checkHMCError(t, update("/api/cpcs/"+cpc2, `{"next-activation-profile-name":"DEFAULT"}`), 400, 6) // classic only
}

// TestOSMessages: an operating LPAR's simulated operating system answers
// List OS Messages and echoes Send OS Command; one without an operating
// system answers 409.332.
func TestOSMessages(t *testing.T) {
	h := newHarness(t, "")
	uri := "/api/logical-partitions/" + lpar1 + "/operations/"
	msgs := func(query string) []any {
		t.Helper()
		return h.getJSON(alice, uri+"list-os-messages"+query)["os-messages"].([]any)
	}
	first := msgs("")
	if len(first) != bootMessages {
		t.Fatalf("LP1 messages %v", first)
	}
	wantTypes(t, "message", first[0].(map[string]any), map[string]string{
		"sequence-number": "n", "message-id": "n", "message-text": "s", "timestamp": "n", "is-priority": "b", "is-held": "b", "prompt-text": "s",
	})
	send := func(body string) error {
		t.Helper()
		resp, err := h.invoke(alice, "POST", uri+"send-os-cmd", body)
		if err == nil && resp.Status != 204 {
			t.Fatalf("Send OS Command answered %+v", resp)
		}
		return err
	}
	if err := send(`{"operating-system-command-text":"D IPLINFO","is-priority":true}`); err != nil {
		t.Fatal(err)
	}
	after := msgs("?begin-sequence-number=" + strconv.Itoa(bootMessages))
	if len(after) != 2 || after[0].(map[string]any)["message-text"] != "D IPLINFO" || after[0].(map[string]any)["is-priority"] != true {
		t.Fatalf("messages after the command: %v", after)
	}
	if got := msgs("?max-messages=1&is-priority=true"); len(got) != 1 || got[0].(map[string]any)["sequence-number"] != float64(bootMessages) {
		t.Errorf("one priority message: %v", got)
	}
	checkHMCError(t, send(`{"operating-system-command-text":"`+strings.Repeat("X", 201)+`"}`), 400, 7)
	checkHMCError(t, send(`{"is-priority":true}`), 400, 5)
	checkHMCError(t, send(`{"operating-system-command-text":"D T","colour":1}`), 400, 6)
	_, err := h.invoke(alice, "GET", uri+"list-os-messages?max-messages=0", "")
	checkHMCError(t, err, 400, 1)
	// LP3 runs no operating system.
	_, err = h.invoke(alice, "GET", "/api/logical-partitions/"+lpar3+"/operations/list-os-messages", "")
	checkHMCError(t, err, 409, 332)
	_, err = h.invoke(alice, "POST", "/api/logical-partitions/"+lpar3+"/operations/send-os-cmd", `{"operating-system-command-text":"D T"}`)
	checkHMCError(t, err, 409, 332)
}

// TestSCSILoad: SCSI Load takes the book's required fields and leaves the
// LPAR operating, loaded from SCSI.
func TestSCSILoad(t *testing.T) {
	h := newHarness(t, "")
	_, err := h.invoke(alice, "POST", lparOp(lpar3, "scsi-load"), `{"load-address":"0B00","logical-unit-number":"1"}`)
	checkHMCError(t, err, 400, 5)
	_, err = h.invoke(alice, "POST", lparOp(lpar3, "scsi-load"), `{"load-address":"0B00","logical-unit-number":"1","world-wide-port-name":"xyz"}`)
	checkHMCError(t, err, 400, 7)
	id := h.start(alice, lparOp(lpar3, "scsi-load"), `{"load-address":"0B00","logical-unit-number":"1","world-wide-port-name":"5005076300C7A1B2"}`)
	h.clock.Advance(3 * time.Second)
	checkEnded(t, h.ended(alice, id), jobs.Complete, 200, 0, `{"message":"Logical partition LP3 loaded from SCSI."}`)
	p := h.getJSON(alice, "/api/logical-partitions/"+lpar3)
	if p["status"] != "operating" || p["last-used-load-type"] != "ipltype-scsi" || p["last-used-world-wide-port-name"] != "5005076300c7a1b2" {
		t.Errorf("after SCSI load: %v %v %v", p["status"], p["last-used-load-type"], p["last-used-world-wide-port-name"])
	}
	// Once operating, another needs force: the job ends 409.1.
	id = h.start(alice, lparOp(lpar3, "scsi-dump"), `{"load-address":"0B00","logical-unit-number":"1","world-wide-port-name":"1"}`)
	h.clock.Advance(3 * time.Second)
	if j := h.ended(alice, id); j.StatusCode != 409 || j.ReasonCode != 1 {
		t.Errorf("SCSI dump of an operating LPAR without force: %+v", j)
	}
}

// TestTemporaryCapacity: Add Temporary Capacity activates processors and a
// software model of a record, and the CPC's counts follow; Remove takes
// them back; what the record does not allow, or a record not activated,
// is refused and changes nothing.
func TestTemporaryCapacity(t *testing.T) {
	h := newHarness(t, "")
	cpcURI := "/api/cpcs/" + cpc1
	records := h.getJSON(alice, cpcURI+"/capacity-records")["capacity-record"].([]any)
	if len(records) != 1 || records[0].(map[string]any)["record-identifier"] != "OOCOD01" {
		t.Fatalf("capacity records %v", records)
	}
	record := records[0].(map[string]any)["element-uri"].(string)
	if r := h.getJSON(alice, record); r["status"] != "installed" || r["record-type"] != "oocod" {
		t.Errorf("record %v", r)
	}
	post := func(op, body string) error {
		t.Helper()
		resp, err := h.invoke(alice, "POST", cpcURI+"/operations/"+op, body)
		if err == nil && resp.Status != 204 {
			t.Fatalf("%s answered %+v", op, resp)
		}
		return err
	}
	counts := func() (ifl, iip any, model any) {
		c := h.getJSON(alice, cpcURI)
		return c["processor-count-ifl"], c["processor-count-iip"], c["software-model-permanent-plus-temporary"]
	}
	checkHMCError(t, post("remove-temp-capacity", `{"record-id":"OOCOD01","processor-info":[{"processor-type":"ifl","num-processor-steps":1}]}`), 409, 1)
	for _, c := range []struct {
		body           string
		status, reason int
	}{
		{`{"test":false}`, 400, 5},
		{`{"record-id":"OOCOD01"}`, 400, 5},
		{`{"record-id":"NOPE","test":false}`, 400, 7},
		{`{"record-id":"OOCOD01","test":false,"processor-info":[{"processor-type":"ifl","num-processor-steps":3}]}`, 400, 7},
		{`{"record-id":"OOCOD01","test":false,"processor-info":[{"processor-type":"ifl","num-processor-steps":1},{"processor-type":"gpu","num-processor-steps":1}]}`, 400, 7},
		{`{"record-id":"OOCOD01","test":false,"software-model":"799"}`, 400, 7},
		{`{"record-id":"OOCOD01","test":false,"colour":"red"}`, 400, 6},
	} {
		checkHMCError(t, post("add-temp-capacity", c.body), c.status, c.reason)
	}
	if ifl, iip, model := counts(); ifl != 4.0 || iip != 2.0 || model != "710" {
		t.Fatalf("refused requests changed the CPC: %v %v %v", ifl, iip, model)
	}
	if err := post("add-temp-capacity", `{"record-id":"OOCOD01","test":false,"software-model":"712","processor-info":[{"processor-type":"ifl","num-processor-steps":2},{"processor-type":"iip","num-processor-steps":1}]}`); err != nil {
		t.Fatal(err)
	}
	if ifl, iip, model := counts(); ifl != 6.0 || iip != 3.0 || model != "712" {
		t.Errorf("after adding: %v %v %v", ifl, iip, model)
	}
	if r := h.getJSON(alice, record); r["status"] != "activated" {
		t.Errorf("record after adding %v", r)
	}
	if err := post("remove-temp-capacity", `{"record-id":"OOCOD01","software-model":"712","processor-info":[{"processor-type":"ifl","num-processor-steps":2},{"processor-type":"iip","num-processor-steps":1}]}`); err != nil {
		t.Fatal(err)
	}
	if ifl, iip, model := counts(); ifl != 4.0 || iip != 2.0 || model != "710" {
		t.Errorf("after removing: %v %v %v", ifl, iip, model)
	}
}

// TestPartitionOSMessages: a DPM partition's operating system has the
// console an LPAR's has, from the moment the partition is active; a
// stopped partition has none (409.332).
func TestPartitionOSMessages(t *testing.T) {
	h := newHarness(t, "")
	uri := "/api/partitions/" + part1 + "/operations/"
	_, err := h.invoke(alice, "GET", uri+"list-os-messages", "")
	checkHMCError(t, err, 409, 332)
	_, err = h.invoke(alice, "POST", uri+"send-os-cmd", `{"operating-system-command-text":"uname -a"}`)
	checkHMCError(t, err, 409, 332)

	id := h.start(alice, partOp(part1, "start"), "")
	h.clock.Advance(3 * time.Second)
	checkEnded(t, h.ended(alice, id), jobs.Complete, 204, 0, "")
	msgs := h.getJSON(alice, uri+"list-os-messages")["os-messages"].([]any)
	if len(msgs) != bootMessages || !strings.Contains(msgs[1].(map[string]any)["message-text"].(string), "partition PART1") {
		t.Fatalf("PART1 messages once active: %v", msgs)
	}
	if resp, err := h.invoke(alice, "POST", uri+"send-os-cmd", `{"operating-system-command-text":"uname -a"}`); err != nil || resp.Status != 204 {
		t.Fatalf("Send OS Command: %+v %v", resp, err)
	}
	msgs = h.getJSON(alice, uri+"list-os-messages?begin-sequence-number="+strconv.Itoa(bootMessages))["os-messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["message-text"] != "uname -a" {
		t.Errorf("after the command: %v", msgs)
	}
}

// TestNVMeLoad: NVMe Load needs its load address, leaves the LPAR
// operating, loaded from NVMe; NVMe Dump of an operating LPAR needs force.
func TestNVMeLoad(t *testing.T) {
	h := newHarness(t, "")
	_, err := h.invoke(alice, "POST", lparOp(lpar3, "nvme-load"), `{"secure-boot":true}`)
	checkHMCError(t, err, 400, 5)
	_, err = h.invoke(alice, "POST", lparOp(lpar3, "nvme-load"), `{"load-address":"0B00","disk-partition-id":-1}`)
	checkHMCError(t, err, 400, 7)
	id := h.start(alice, lparOp(lpar3, "nvme-load"), `{"load-address":"0B00","secure-boot":true}`)
	h.clock.Advance(3 * time.Second)
	checkEnded(t, h.ended(alice, id), jobs.Complete, 200, 0, `{"message":"Logical partition LP3 loaded from NVMe."}`)
	if p := h.getJSON(alice, "/api/logical-partitions/"+lpar3); p["status"] != "operating" || p["last-used-load-type"] != "ipltype-nvme" || p["last-used-load-address"] != "0B00" {
		t.Errorf("after NVMe load: %v %v %v", p["status"], p["last-used-load-type"], p["last-used-load-address"])
	}
	id = h.start(alice, lparOp(lpar3, "nvme-dump"), `{"load-address":"0B00"}`)
	h.clock.Advance(3 * time.Second)
	if j := h.ended(alice, id); j.StatusCode != 409 || j.ReasonCode != 1 {
		t.Errorf("NVMe dump of an operating LPAR without force: %+v", j)
	}
	id = h.start(alice, lparOp(lpar3, "nvme-dump"), `{"load-address":"0B00","force":true}`)
	h.clock.Advance(3 * time.Second)
	checkEnded(t, h.ended(alice, id), jobs.Complete, 200, 0, `{"message":"Logical partition LP3 dumped to NVMe."}`)
	if p := h.getJSON(alice, "/api/logical-partitions/"+lpar3); p["last-used-load-type"] != "ipltype-nvmedump" {
		t.Errorf("after NVMe dump: %v", p["last-used-load-type"])
	}
}

// bootMessages is how many messages the simulated operating system writes
// as it comes up.
const bootMessages = 3
