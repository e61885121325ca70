package simse

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// TestClassDefaults: every default of every class has its property's type,
// so that an object answers the data model's types before any update.
func TestClassDefaults(t *testing.T) {
	for name, c := range classes {
		if name != c.name {
			t.Errorf("class %s filed as %s", c.name, name)
		}
		if err := checkDefaults(c); err != nil {
			t.Error(err)
		}
	}
	if len(classes) != 12 {
		t.Errorf("%d classes", len(classes))
	}
}

// TestModelTypes: hasType takes the values of each type and refuses the
// others, null only where allowed.
func TestModelTypes(t *testing.T) {
	values := map[string]any{
		"string": "x", "bool": true, "int": int64(3), "float": 2.5, "strings": []any{"a"},
		"object": map[string]any{"a": int64(1)}, "objects": []any{map[string]any{}}, "null": nil,
	}
	for _, c := range []struct {
		p  prop
		ok []string
	}{
		{prop{typ: tString}, []string{"string"}},
		{prop{typ: tBool}, []string{"bool"}},
		{prop{typ: tInt}, []string{"int"}},
		{prop{typ: tFloat}, []string{"int", "float"}},
		{prop{typ: tStrings}, []string{"strings"}},
		{prop{typ: tObject}, []string{"object"}},
		{prop{typ: tObjects}, []string{"objects"}},
		{prop{typ: tString, null: true}, []string{"string", "null"}},
	} {
		for name, v := range values {
			want := false
			for _, ok := range c.ok {
				want = want || ok == name
			}
			if got := c.p.hasType(v); got != want {
				t.Errorf("%s holding %s: %v, want %v", c.p.typ, name, got, want)
			}
		}
	}
}

// checkDefaults: every default has its property's type.
func checkDefaults(c *class) error {
	for i := range c.props {
		p := &c.props[i]
		if !p.hasType(decodeJSON(p.def)) {
			return fmt.Errorf("%s.%s: default %s is not %s", c.name, p.name, p.def, p.typ)
		}
	}
	return nil
}

// TestREADMEStateTable: the README's table of LPAR operations is the state
// rules' table.
func TestREADMEStateTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const header = "| operation | needs the LPAR to be | leaves it |\n| --- | --- | --- |\n"
	_, rest, ok := strings.Cut(string(b), header)
	if !ok {
		t.Fatal("README.md has no table of LPAR operations")
	}
	table, _, _ := strings.Cut(rest, "\n\n")
	want := strings.Join(readmeRows(), "\n")
	if strings.TrimSpace(table) != want {
		t.Errorf("README.md's table of LPAR operations differs from the state rules; it should read:\n%s", want)
	}
}

// readmeRows renders the LPAR rules as the README's table rows, rules
// that read alike in one row.
func readmeRows() []string {
	quote := func(ss []Status) string {
		var q []string
		for _, s := range ss {
			q = append(q, "`"+string(s)+"`")
		}
		return strings.Join(q, " or ")
	}
	var rows, ops []string
	var last string
	flush := func() {
		if last != "" {
			rows = append(rows, "| "+strings.Join(ops, ", ")+" | "+last+" |")
		}
	}
	for _, r := range stateRules {
		if r.kind != bcpii.KindLogicalPartition {
			continue
		}
		var needs []string
		if r.from != nil {
			needs = append(needs, "activated")
		}
		if r.force != nil {
			needs = append(needs, "not "+quote(r.force)+" (or force)")
		}
		if r.notInModes != nil {
			needs = append(needs, "not in `"+strings.Join(r.notInModes, "` or `")+"` mode")
		}
		text := strings.Join(needs, ", ") + r.needs + " | `" + string(r.after) + "`" + r.leaves
		if text != last {
			flush()
			ops, last = nil, text
		}
		ops = append(ops, r.op)
	}
	flush()
	return rows
}
