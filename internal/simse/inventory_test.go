package simse_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
)

// The object ids of the built-in inventory.
const (
	cpc1  = "e199300c-0455-47d9-8c76-3ca3e6646afb"
	lpar1 = "966349c5-ce85-48d4-b15d-c82d99835b98"
	lpar2 = "732b5207-24d8-4994-81dc-c9f05bcd2917"
	lpar3 = "ab648f14-bb53-4a8b-b2bd-7c224d5b4360"
	cpc2  = "7689e368-4186-4d7c-b2d5-57241f8c56ca"
	part1 = "92191903-466e-4468-b537-135aa94c137c"
	part2 = "a02f7db8-2d58-46ca-ae77-f3560647982d"
)

// defaultJSON is the built-in inventory written as JSON, tab-indented and
// with a \/ escape, which go-yaml alone would refuse.
const defaultJSON = `{
	"cpcs": [
		{
			"name": "CPC1",
			"object-id": "e199300c-0455-47d9-8c76-3ca3e6646afb",
			"target-name": "IBM390PS.CPC1",
			"status": "operating",
			"logical-partitions": [
				{"name": "LP1", "object-id": "966349c5-ce85-48d4-b15d-c82d99835b98", "status": "operating"},
				{"name": "LP2", "object-id": "732b5207-24d8-4994-81dc-c9f05bcd2917", "status": "not-activated"},
				{"name": "LP3", "object-id": "ab648f14-bb53-4a8b-b2bd-7c224d5b4360", "status": "not-operating"}
			],
			"image-activation-profiles": [
				{"name": "LP1", "description": "z\/OS, loaded at activation", "load-at-activation": true, "load-address": "00C1", "load-parameter": "0A8201M1"},
				{"name": "LP2", "load-address": "00C2"},
				{"name": "LP3", "load-address": "00C3"}
			],
			"load-activation-profiles": [
				{"name": "ZOSLOAD", "description": "z/OS from the system residence volume", "load-address": "0A80", "load-parameter": "0A8201M1"}
			],
			"reset-activation-profiles": [{"name": "DEFAULT"}],
			"capacity-records": [{"record-id": "OOCOD01", "record-type": "oocod", "software-models": ["711", "712"], "max-steps": {"ifl": 2, "iip": 2}}]
		},
		{
			"name": "CPC2",
			"object-id": "7689e368-4186-4d7c-b2d5-57241f8c56ca",
			"target-name": "IBM390PS.CPC2",
			"dpm-enabled": true,
			"status": "operating",
			"partitions": [
				{"name": "PART1", "object-id": "92191903-466e-4468-b537-135aa94c137c", "status": "stopped"},
				{"name": "PART2", "object-id": "a02f7db8-2d58-46ca-ae77-f3560647982d", "status": "active"}
			],
			"adapters": [
				{"name": "OSA 0108", "object-id": "1d29f8a2-6b45-4a0b-9c3e-5f0a7e1b2c01", "adapter-id": "108", "adapter-family": "osa", "type": "osd"},
				{"name": "FCP 0120", "object-id": "6f3c2e81-9a47-4d0e-b1c2-8e4a5d6f7a02", "adapter-id": "120", "adapter-family": "ficon", "type": "fcp"}
			],
			"storage-groups": [{"name": "PART2 BOOT", "object-id": "c4b1e9d3-2a68-4f17-8e05-3d9b7a6c5e03", "type": "fcp"}]
		}
	]
}`

func TestDefaultInventory(t *testing.T) {
	inv, err := simse.DefaultInventory()
	if err != nil {
		t.Fatal(err)
	}
	want := &simse.Inventory{CPCs: []simse.CPC{
		{
			Name: "CPC1", ObjectID: cpc1, TargetName: "IBM390PS.CPC1", Status: "operating",
			LogicalPartitions: []simse.LPAR{
				{Name: "LP1", ObjectID: lpar1, Status: "operating"},
				{Name: "LP2", ObjectID: lpar2, Status: "not-activated"},
				{Name: "LP3", ObjectID: lpar3, Status: "not-operating"},
			},
			ImageProfiles: []simse.ImageProfile{
				{Name: "LP1", Description: "z/OS, loaded at activation", LoadAtActivation: true, LoadAddress: "00C1", LoadParameter: "0A8201M1"},
				{Name: "LP2", LoadAddress: "00C2"},
				{Name: "LP3", LoadAddress: "00C3"},
			},
			LoadProfiles:  []simse.LoadProfile{{Name: "ZOSLOAD", Description: "z/OS from the system residence volume", LoadAddress: "0A80", LoadParameter: "0A8201M1"}},
			ResetProfiles: []simse.ResetProfile{{Name: "DEFAULT"}},
			CapacityRecords: []simse.CapacityRecord{{ID: "OOCOD01", Type: "oocod", SoftwareModels: []string{"711", "712"},
				MaxSteps: map[string]int{"ifl": 2, "iip": 2}}},
		},
		{
			Name: "CPC2", ObjectID: cpc2, TargetName: "IBM390PS.CPC2", Status: "operating", DPMEnabled: true,
			Partitions: []simse.Partition{
				{Name: "PART1", ObjectID: part1, Status: "stopped"},
				{Name: "PART2", ObjectID: part2, Status: "active"},
			},
			Adapters: []simse.Adapter{
				{Name: "OSA 0108", ObjectID: "1d29f8a2-6b45-4a0b-9c3e-5f0a7e1b2c01", AdapterID: "108", Family: "osa", Type: "osd"},
				{Name: "FCP 0120", ObjectID: "6f3c2e81-9a47-4d0e-b1c2-8e4a5d6f7a02", AdapterID: "120", Family: "ficon", Type: "fcp"},
			},
			StorageGroups: []simse.StorageGroup{{Name: "PART2 BOOT", ObjectID: "c4b1e9d3-2a68-4f17-8e05-3d9b7a6c5e03", Type: "fcp"}},
		},
	}}
	if !reflect.DeepEqual(inv, want) {
		t.Errorf("default inventory\n got %+v\nwant %+v", inv, want)
	}
	fromJSON, err := simse.ParseInventory([]byte(defaultJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, want) {
		t.Errorf("JSON inventory\n got %+v\nwant %+v", fromJSON, want)
	}
	if again, _ := simse.ParseInventory(simse.DefaultInventoryFile()); !reflect.DeepEqual(again, want) {
		t.Error("DefaultInventoryFile does not parse to DefaultInventory")
	}
}

func TestParseInventoryOperations(t *testing.T) {
	inv, err := simse.ParseInventory([]byte(`
cpcs:
  - name: T1
    object-id: t1
    target-name: testnet.t1        # printed in upper case
    status: operating
    logical-partitions:
      - name: lpa
        object-id: a
        status: not-activated
        operations:
          activate:
            duration: 1m30s
            cancel-duration: 0s
            cancelable: true
            status-code: 500
            reason-code: 263
            job-results: {message: "No image profile.", "<&>": [1, 2.50, true, null]}
          load:
`))
	if err != nil {
		t.Fatal(err)
	}
	c := inv.CPCs[0]
	if c.TargetName != "TESTNET.T1" || c.LogicalPartitions[0].Name != "LPA" {
		t.Errorf("names not in upper case: %q, %q", c.TargetName, c.LogicalPartitions[0].Name)
	}
	ops := c.LogicalPartitions[0].Operations
	op := ops["activate"]
	if op.Duration != 90*time.Second || op.CancelDuration != 0 || op.Cancelable == nil || !*op.Cancelable ||
		op.StatusCode != 500 || op.ReasonCode != 263 {
		t.Errorf("activate = %+v", op)
	}
	if got, want := string(op.Results), `{"message":"No image profile.","<&>":[1,2.50,true,null]}`; got != want {
		t.Errorf("results = %s, want %s", got, want)
	}
	if load, ok := ops["load"]; !ok || !reflect.DeepEqual(load, simse.Operation{}) {
		t.Errorf("load = %+v, %v; want the zero Operation", load, ok)
	}
}

// Numbers in job-results keep their text, however large or precise;
// numbers spelled the YAML way become JSON numbers of the same value.
func TestJobResultsNumbers(t *testing.T) {
	const head = "cpcs:\n  - {name: C, object-id: c, target-name: N.C, status: operating, logical-partitions: [{name: L, object-id: l, status: operating, operations: {load: {job-results: "
	tests := []struct {
		results, want string
	}{
		{`{"n": 12345678901234567890}`, `{"n":12345678901234567890}`},
		{`{n: 123456789012345678901234567890123, m: -98765432109876543210}`, `{"n":123456789012345678901234567890123,"m":-98765432109876543210}`},
		{`{f: 3.14159265358979323846264338327950288, e: 1E400, z: -0, x: 1.0e-7}`, `{"f":3.14159265358979323846264338327950288,"e":1E400,"z":-0,"x":1.0e-7}`},
		{`{h: 0x1F, o: 0o17, p: +5, u: 1_000, d: .5}`, `{"h":31,"o":15,"p":5,"u":1000,"d":0.5}`},
		{`{s: "12345678901234567890", y: yes, t: 2001-12-14, q: 'a"b'}`, `{"s":"12345678901234567890","y":"yes","t":"2001-12-14","q":"a\"b"}`},
		{`{1: one, true: two}`, `{"1":"one","true":"two"}`},
	}
	for _, tt := range tests {
		inv, err := simse.ParseInventory([]byte(head + tt.results + "}}}]}\n"))
		if err != nil {
			t.Errorf("%s: %v", tt.results, err)
			continue
		}
		got := string(inv.CPCs[0].LogicalPartitions[0].Operations["load"].Results)
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.results, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: %s is not JSON", tt.results, got)
		}
	}

	// The same from a JSON file, where escapes are JSON's.
	inv, err := simse.ParseInventory([]byte(`{"cpcs":[{"name":"C","object-id":"c","target-name":"N.C","status":"operating",
		"logical-partitions":[{"name":"L","object-id":"l","status":"operating","operations":{"load":{
		"job-results":{"big":12345678901234567890,"f":0.10000000000000000000000001,"s":"a\/b\u00e9\n","a":[]}}}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(inv.CPCs[0].LogicalPartitions[0].Operations["load"].Results)
	if want := `{"big":12345678901234567890,"f":0.10000000000000000000000001,"s":"a/bé\n","a":[]}`; got != want {
		t.Errorf("from JSON: got %s, want %s", got, want)
	}
}

func TestParseInventoryErrors(t *testing.T) {
	const cpc = "cpcs:\n  - name: C\n    object-id: c\n    target-name: N.C\n    status: operating\n"
	const lpars = cpc + "    logical-partitions:\n"
	tests := []struct {
		name, in string
		want     []string // every one must be in the error
	}{
		{"empty", "", []string{"empty"}},
		{"accept neither all, none nor a list", lpars + "      - {name: L, object-id: l, status: operating, bcpii-permissions: {accept: some}}\n", []string{"bcpii-permissions.accept", "want all, none or a list"}},
		{"accept a CPC", lpars + "      - {name: L, object-id: l, status: operating, bcpii-permissions: {accept: [N.C]}}\n", []string{"accept[0]", "not the target name of a partition"}},
		{"permission unknown", lpars + "      - {name: L, object-id: l, status: operating, bcpii-permissions: {receive: true}}\n", []string{"unknown field \"receive\""}},
		{"send not boolean", lpars + "      - {name: L, object-id: l, status: operating, bcpii-permissions: {send: yes please}}\n", []string{"send", "want true or false"}},
		{"next profile unknown", lpars + "      - {name: L, object-id: l, status: operating, next-activation-profile-name: NOPE}\n", []string{"next-activation-profile-name", "no image or load activation profile"}},
		{"load address not a device", lpars + "      - {name: L, object-id: l, status: operating, last-used-load-address: 12}\n", []string{"last-used-load-address", "4 or 5 hexadecimal digits"}},
		{"profile name", cpc + "    image-activation-profiles: [{name: A-B}]\n", []string{"image-activation-profiles[0].name", "1 to 16 characters"}},
		{"profile twice", cpc + "    image-activation-profiles: [{name: A}]\n    load-activation-profiles: [{name: a}]\n", []string{"load-activation-profiles[0].name", "another profile"}},
		{"operating mode", cpc + "    image-activation-profiles: [{name: A, operating-mode: zos}]\n", []string{"operating-mode", "not one of"}},
		{"profiles in DPM mode", "cpcs:\n  - {name: C, object-id: c, target-name: N.C, status: operating, dpm-enabled: true, reset-activation-profiles: [{name: R}]}\n", []string{"DPM mode has no activation profiles"}},
		{"partition type", "cpcs:\n  - {name: C, object-id: c, target-name: N.C, status: operating, dpm-enabled: true, partitions: [{name: P, object-id: p, status: active, type: zos}]}\n", []string{"partitions[0].type", "not one of linux, ssc, zvm"}},
		{"hmc-version not dotted", "console: {hmc-version: devel}\n" + cpc, []string{"console", `hmc-version "devel" is not of the form v.r.m`}},
		{"hmc-name too long", "console: {hmc-name: ABCDEFGHIJKLMNOPQ}\n" + cpc, []string{"console", "1 to 16 characters"}},
		{"console field", "console: {api-version: 4.1}\n" + cpc, []string{`unknown field "api-version"`}},
		{"comment only", "# nothing\n", []string{"empty"}},
		{"two documents", cpc + "---\n" + cpc, []string{"more than one YAML document"}},
		{"not a mapping", "- 1\n", []string{"line 1", "want a mapping"}},
		{"no cpcs", "cpcs: []\n", []string{"cpcs: at least one CPC"}},
		{"unknown top field", "cpc: []\n", []string{"line 1", `unknown field "cpc"`}},
		{"unknown cpc field", cpc + "    colour: blue\n", []string{"line 6", "cpcs[0]", `unknown field "colour"`}},
		{"unknown lpar field", lpars + "      - {name: L, object-id: l, status: operating, stauts: x}\n", []string{"line 7", "cpcs[0].logical-partitions[0]", `unknown field "stauts"`}},
		{"repeated key", cpc + "    status: operating\n", []string{"line 6", "cpcs[0].status", "more than once"}},
		{"wrong type", "cpcs:\n  - name: [C]\n", []string{"line 2", "cpcs[0].name", "want a string"}},
		{"number as name", "cpcs:\n  - name: 17\n", []string{"cpcs[0].name", "want a string, got !!int"}},
		{"missing fields", "cpcs:\n  - {}\n", []string{"cpcs[0].name: a name is required", "cpcs[0].object-id: an object id is required", "cpcs[0].target-name: a target name", "cpcs[0].status: a status is required"}},
		{"bad target", strings.Replace(cpc, "N.C", "1BM.C", 1), []string{"cpcs[0].target-name", `"1BM.C" is not NETID.NAU`}},
		{"target without NAU", strings.Replace(cpc, "N.C", "IBM390PS", 1), []string{"cpcs[0].target-name"}},
		{"NAU too long", strings.Replace(cpc, "N.C", "N.ABCDEFGHI", 1), []string{"cpcs[0].target-name"}},
		{"target with LPAR", strings.Replace(cpc, "N.C", "N.C.L", 1), []string{"cpcs[0].target-name"}},
		{"SNA characters", strings.Replace(cpc, "N.C", "'@N#$.$C'", 1), nil},
		{"bad cpc status", strings.Replace(cpc, "operating", "active", 1), []string{"cpcs[0].status", `"active" is not one of operating, not-operating, no-power`}},
		{"bad lpar name", lpars + "      - {name: 1LP, object-id: l, status: operating}\n", []string{"cpcs[0].logical-partitions[0].name", `"1LP" is not 1 to 8 characters`}},
		{"long lpar name", lpars + "      - {name: LPAR12345, object-id: l, status: operating}\n", []string{"logical-partitions[0].name"}},
		{"lpar name with dash", lpars + "      - {name: LP-1, object-id: l, status: operating}\n", []string{"logical-partitions[0].name"}},
		{"bad lpar status", lpars + "      - {name: L, object-id: l, status: active}\n", []string{"logical-partitions[0].status", "not-activated, not-operating, operating, exceptions"}},
		{"same lpar name", lpars + "      - {name: L, object-id: l, status: operating}\n      - {name: l, object-id: m, status: operating}\n", []string{"logical-partitions[1].name", "also the name of cpcs[0].logical-partitions[0]"}},
		{"same id", lpars + "      - {name: L, object-id: c, status: operating}\n", []string{"logical-partitions[0].object-id", `"c" is also the object id of cpcs[0]`}},
		{"bad id", lpars + "      - {name: L, object-id: a/b, status: operating}\n", []string{"logical-partitions[0].object-id", "is not 1 to 64 characters"}},
		{"dotted id", lpars + "      - {name: L, object-id: .., status: operating}\n", []string{"object-id"}},
		{"same target", cpc + strings.Replace(strings.Replace(cpc, "cpcs:\n", "", 1), "object-id: c", "object-id: d", 1), []string{"cpcs[1]", "target name N.C is also that of cpcs[0]"}},
		{"same cpc name", cpc + strings.Replace(strings.Replace(strings.Replace(cpc, "cpcs:\n", "", 1), "object-id: c", "object-id: d", 1), "N.C", "N.D", 1), []string{"cpcs[1].name", "also the name of cpcs[0]"}},
		{"partitions on classic", cpc + "    partitions: [{name: P, object-id: p, status: stopped}]\n", []string{"cpcs[0].partitions", "classic mode"}},
		{"lpars on DPM", cpc + "    dpm-enabled: true\n    logical-partitions: [{name: L, object-id: l, status: operating}]\n", []string{"cpcs[0].logical-partitions", "DPM mode"}},
		{"operations on classic CPC", cpc + "    operations: {start: {}}\n", []string{"cpcs[0].operations", "only a CPC in DPM mode"}},
		{"unknown operation", lpars + "      - {name: L, object-id: l, status: operating, operations: {ipl: {}}}\n", []string{"logical-partitions[0].operations.ipl", "only activate, deactivate, load, stop, start"}},
		{"unknown operation field", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {delay: 3s}}}\n", []string{"line 7", `unknown field "delay"`}},
		{"duration without unit", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {duration: 3}}}\n", []string{"operations.load.duration", "want a string"}},
		{"bad duration", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {duration: soon}}}\n", []string{"operations.load.duration", `"soon" is not a duration`}},
		{"zero duration", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {duration: 0s}}}\n", []string{"operations.load.duration", "more than zero"}},
		{"negative cancel-duration", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {cancel-duration: -1s}}}\n", []string{"operations.load.cancel-duration", "must not be negative"}},
		{"string status-code", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {status-code: \"200\"}}}\n", []string{"operations.load.status-code", "want an integer"}},
		{"status-code out of range", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {status-code: 999}}}\n", []string{"operations.load.status-code", "999 is not an HTTP status"}},
		{"reason with 2xx", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {status-code: 200, reason-code: 3}}}\n", []string{"operations.load.reason-code", "not 2xx"}},
		{"results with 204", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {status-code: 204, job-results: {a: 1}}}}\n", []string{"operations.load.job-results", "204"}},
		{"results not an object", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {job-results: [1]}}}\n", []string{"operations.load.job-results", "want a mapping"}},
		{"results as a string", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {job-results: '{\"a\":1}'}}}\n", []string{"operations.load.job-results", "want a mapping"}},
		{"results infinite", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {job-results: {a: .inf}}}}\n", []string{"line 7", "operations.load.job-results", `".inf" is not a number JSON can hold`}},
		{"results repeated key", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {job-results: {a: 1, a: 2}}}}\n", []string{"operations.load.job-results", `key "a" is given twice`}},
		{"results custom tag", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {job-results: {a: !point 1}}}}\n", []string{"job-results", "tag !point"}},
		{"alias", cpc + "    logical-partitions:\n      - &l {name: L, object-id: l, status: operating}\n      - *l\n", []string{"line 8", "cpcs[0].logical-partitions[1]", "alias"}},
		{"alias in results", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {job-results: {a: &x 1, b: *x}}}}\n", []string{"job-results", "aliases are not supported"}},
		{"merge key", "x: &x {name: C}\ncpcs:\n  - <<: *x\n", []string{"unknown field \"x\"", "a key must be a plain name"}},
		{"deep results", lpars + "      - {name: L, object-id: l, status: operating, operations: {load: {job-results: {a: " + strings.Repeat("[", 150) + strings.Repeat("]", 150) + "}}}}\n", []string{"nested more than 100 levels"}},
		{"yaml syntax", "cpcs: [\n", []string{"yaml:"}},
		{"JSON unknown field", "{\n  \"cpcs\": [\n    {\"nmae\": \"C\"}\n  ]\n}", []string{"line 3", "cpcs[0]", `unknown field "nmae"`}},
		{"JSON repeated key", `{"cpcs": [], "cpcs": []}`, []string{"line 1", "cpcs", "more than once"}},
		{"JSON wrong type", "{\"cpcs\": [{\"name\": \"C\", \"dpm-enabled\": \"true\"}]}", []string{"cpcs[0].dpm-enabled", "want true or false"}},
		{"JSON too deep", `{"cpcs": ` + strings.Repeat("[", 120) + strings.Repeat("]", 120) + `}`, []string{"nested more than 100 levels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := simse.ParseInventory([]byte(tt.in))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want one mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadInventory(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "inventory.json")
	if err := os.WriteFile(good, []byte(defaultJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := simse.LoadInventory(good)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := simse.DefaultInventory(); !reflect.DeepEqual(inv, want) {
		t.Errorf("loaded %+v", inv)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("cpcs: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := simse.LoadInventory(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("error %v does not name the file and line", err)
	}
	if _, err := simse.LoadInventory(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestValidateInventoryBuiltInCode(t *testing.T) {
	yes := true
	inv := &simse.Inventory{CPCs: []simse.CPC{{
		Name: "C", ObjectID: "c", TargetName: "n.c", Status: "operating",
		LogicalPartitions: []simse.LPAR{{Name: "l1", ObjectID: "l", Status: "operating", Operations: map[string]simse.Operation{
			"activate": {Duration: -time.Second, Cancelable: &yes, Results: []byte(`[1]`)},
		}}},
	}}}
	err := inv.Validate()
	for _, w := range []string{"operations.activate.duration: -1s is negative", "operations.activate.job-results: not a JSON object"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %q", err, w)
		}
	}
}

func FuzzParseInventory(f *testing.F) {
	f.Add(simse.DefaultInventoryFile())
	f.Add([]byte(defaultJSON))
	f.Add([]byte("cpcs:\n  - {name: C, object-id: c, target-name: N.C, status: operating, logical-partitions: [{name: L, object-id: l, status: operating, operations: {load: {duration: 2s, job-results: {n: 12345678901234567890, f: 0x1F, s: [a, {b: ~}]}}}}]}\n"))
	f.Add([]byte(`{"cpcs":[{"name":"C","object-id":"c","target-name":"N.C","status":"operating","dpm-enabled":true,"partitions":[{"name":"P","object-id":"p","status":"stopped","operations":{"start":{"cancelable":false,"status-code":500,"reason-code":1,"job-results":{"a":1E400}}}}]}]}`))
	f.Add([]byte("x: &a [*a]\n"))
	f.Add([]byte("{\"cpcs\": [\"\\/\"]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := simse.ParseInventory(data)
		if err != nil {
			return
		}
		if err := inv.Validate(); err != nil {
			t.Fatalf("parsed inventory does not validate: %v", err)
		}
		for _, c := range inv.CPCs {
			all := []map[string]simse.Operation{c.Operations}
			for _, l := range c.LogicalPartitions {
				all = append(all, l.Operations)
			}
			for _, p := range c.Partitions {
				all = append(all, p.Operations)
			}
			for _, ops := range all {
				for name, op := range ops {
					if op.Results != nil && !json.Valid(op.Results) {
						t.Fatalf("%s results %q are not JSON", name, op.Results)
					}
				}
			}
		}
	})
}
