package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
)

// versionRE is what --version prints: the name, the module version, and
// the commit and toolchain where the build recorded them.
var versionRE = regexp.MustCompile(`^bcpii-gateway (devel|v\d+\.\d+\.\d+\S*)( \(commit [0-9a-f]{12}(\+dirty)?(, \S+)?\))?( go\S+)?\n$`)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, func(string) string { return "" }, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "bcpii-gateway " + version.Get().String() + "\n"; out.String() != want {
		t.Errorf("--version printed %q, want %q", out.String(), want)
	}
	if !versionRE.MatchString(out.String()) {
		t.Errorf("--version printed %q", out.String())
	}

	// The built binary says the same of itself, from its build information.
	bin := buildGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !versionRE.Match(b) || !strings.Contains(string(b), " go") {
		t.Errorf("%s --version printed %q", bin, b)
	}
}

// Every flag can come from BCPII_<FLAG>; a flag given on the command line
// wins over the environment.
func TestFlagsFromEnvironment(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	err := runBounded(t, canceled, nil, env(map[string]string{"BCPII_LOG_FORMAT": "xml"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "xml") {
		t.Errorf("BCPII_LOG_FORMAT=xml: %v, want it refused", err)
	}
	if err := runBounded(t, canceled, []string{"--log-format", "json"}, env(map[string]string{"BCPII_LOG_FORMAT": "xml"}), io.Discard); err != nil {
		t.Errorf("--log-format json over BCPII_LOG_FORMAT=xml: %v", err)
	}
	err = runBounded(t, canceled, nil, env(map[string]string{"BCPII_RETENTION": "soon"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "BCPII_RETENTION") {
		t.Errorf("BCPII_RETENTION=soon: %v, want it refused by name", err)
	}
	var logs bytes.Buffer
	if err := runBounded(t, canceled, nil, env(map[string]string{"BCPII_LOG_FORMAT": "json", "BCPII_PARTITION": "IBM390PS.CPC2.PART1"}), &logs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"partition":"IBM390PS.CPC2.PART1"`) {
		t.Errorf("the environment's partition and log format were not used:\n%s", logs.String())
	}
}

func TestHashPassword(t *testing.T) {
	var out bytes.Buffer
	getenv := func(string) string { return "" }
	args := []string{"hash-password", "--cost", "4", "alice ops"}
	if err := run(context.Background(), args, getenv, strings.NewReader("correct horse\nignored\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	users, err := bcpii.ParseUsers([]byte("users:\n" + out.String()))
	if err != nil || users.Len() != 1 {
		t.Fatalf("the printed line %q is not a users file entry: %v", out.String(), err)
	}
	var doc struct {
		Users []struct {
			Name string `yaml:"name"`
			Hash string `yaml:"password-hash"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal([]byte("users:\n"+out.String()), &doc); err != nil || len(doc.Users) != 1 {
		t.Fatalf("%q: %v", out.String(), err)
	}
	u := doc.Users[0]
	if u.Name != "alice ops" || bcrypt.CompareHashAndPassword([]byte(u.Hash), []byte("correct horse")) != nil {
		t.Errorf("entry %+v does not verify the password", u)
	}
	if strings.Contains(out.String(), "correct horse") {
		t.Error("the password was printed")
	}
	for _, bad := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"hash-password", "alice"}, "\n"},           // empty password
		{[]string{"hash-password"}, "pw\n"},                  // no user
		{[]string{"hash-password", " alice"}, "pw\n"},        // a name the users file refuses
		{[]string{"hash-password", "--cost", "99", "a"}, ""}, // cost out of range
	} {
		if err := run(context.Background(), bad.args, getenv, strings.NewReader(bad.stdin), io.Discard, io.Discard); err == nil {
			t.Errorf("%v with stdin %q accepted", bad.args, bad.stdin)
		}
	}
}
