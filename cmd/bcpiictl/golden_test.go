package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Every output format of every kind of answer, against testdata/*.golden.
// Job ids, which the gateway draws at random, are replaced by fixed ones.
func TestOutputFormats(t *testing.T) {
	c := setup(t)
	ids := map[string]string{}
	golden := func(name string, code int, args ...string) {
		t.Helper()
		for _, format := range []string{"table", "json", "yaml"} {
			out := c.run(t, append([]string{"-o", format}, args...)...).want(t, code, args...).stdout
			for id, fixed := range ids {
				out = strings.ReplaceAll(out, id, fixed)
			}
			compareGolden(t, name+"."+format, out)
		}
	}
	golden("cpc-list", exitOK, "cpc", "list")
	golden("cpc-show", exitOK, "cpc", "show", "CPC1")
	golden("lpar-list", exitOK, "lpar", "list", "CPC1")
	golden("lpar-show", exitOK, "lpar", "show", "CPC1", "LP2")
	golden("partition-list", exitOK, "partition", "list", "CPC2")

	ok := jobOf(t, c.ok(t, "lpar", "activate", "CPC1", "LP2", "--no-wait"))
	ids[ok] = "00000000-0000-4000-8000-000000000001"
	failed := jobOf(t, c.ok(t, "lpar", "activate", "CPC1", "LP1", "--no-wait"))
	ids[failed] = "00000000-0000-4000-8000-000000000002"
	canceled := jobOf(t, c.ok(t, "partition", "start", "CPC2", "PART1", "--no-wait"))
	ids[canceled] = "00000000-0000-4000-8000-000000000003"
	c.ok(t, "cancel", canceled)
	// Every job has ended before its status is compared.
	c.ok(t, "wait", ok)
	c.run(t, "wait", failed).want(t, exitFailed)
	c.run(t, "wait", canceled).want(t, exitCanceled)

	golden("wait", exitOK, "wait", ok)
	golden("get", exitOK, "get", ok)
	golden("get-failed", exitFailed, "get", failed)
	golden("get-canceled", exitCanceled, "get", canceled)
	golden("list-canceled", exitOK, "list", "--status", "canceled")
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
