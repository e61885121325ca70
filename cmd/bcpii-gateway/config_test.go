package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// configured parses args as the gateway does and applies the environment
// and the --config file to what they left alone.
func configured(t *testing.T, args []string, env map[string]string) (app.Config, options, error) {
	t.Helper()
	var cfg app.Config
	var o options
	getenv := func(k string) string { return env[k] }
	fs := pflag.NewFlagSet("bcpii-gateway", pflag.ContinueOnError)
	defineFlags(fs, &cfg, &o, getenv)
	if err := fs.Parse(args); err != nil {
		return cfg, o, err
	}
	err := configure(fs, getenv)
	return cfg, o, err
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A flag wins over the environment, the environment over the file, the
// file over the default; each level is seen where the ones above it are
// silent.
func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, `# the gateway's settings
rest-addr: ":7001"
grpc-addr: ":7002"
stomp-addr: ":7003"
shutdown-grace: 25s
no-loopback-identity: true
etcd-endpoints:
  - https://etcd-1:2379
  - https://etcd-2:2379
`)
	cfg, o, err := configured(t,
		[]string{"--config", file, "--rest-addr", ":8001"},
		map[string]string{"BCPII_REST_ADDR": ":9001", "BCPII_GRPC_ADDR": ":9002", "BCPII_LOG_LEVEL": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]any{
		"rest-addr (flag over env and file)": cfg.RESTAddr, "grpc-addr (env over file)": cfg.GRPCAddr,
		"stomp-addr (file over default)": cfg.StompAddr, "admin-addr (default)": cfg.AdminAddr,
		"shutdown-grace (file)": cfg.ShutdownGrace, "no-loopback-identity (file)": cfg.NoLoopbackIdentity,
		"etcd-endpoints (file list)": strings.Join(cfg.Etcd.Endpoints, " "), "log-level (env)": o.logLevel,
	} {
		want := map[string]any{
			"rest-addr (flag over env and file)": ":8001", "grpc-addr (env over file)": ":9002",
			"stomp-addr (file over default)": ":7003", "admin-addr (default)": app.DefaultAdminAddr,
			"shutdown-grace (file)": 25 * time.Second, "no-loopback-identity (file)": true,
			"etcd-endpoints (file list)": "https://etcd-1:2379 https://etcd-2:2379", "log-level (env)": "debug",
		}[name]
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// BCPII_CONFIG names the file too; a flag given as the environment
	// still wins over it.
	cfg, _, err = configured(t, nil, map[string]string{"BCPII_CONFIG": file, "BCPII_STOMP_ADDR": "-"})
	if err != nil || cfg.RESTAddr != ":7001" || cfg.StompAddr != "-" {
		t.Errorf("with BCPII_CONFIG: %v, rest %q stomp %q", err, cfg.RESTAddr, cfg.StompAddr)
	}
	// Without a file, the defaults.
	cfg, _, err = configured(t, nil, nil)
	if err != nil || cfg.RESTAddr != ":6794" || cfg.StompAddr != ":61612" {
		t.Errorf("defaults: %v, rest %q stomp %q", err, cfg.RESTAddr, cfg.StompAddr)
	}
}

// A file that is not settings is refused with its line and, for a name
// near a setting's, the setting.
func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"rest-adr: \":1\"\n", `line 1: "rest-adr" is not a setting; did you mean rest-addr?`},
		{"store: bbolt\nstore: memory\n", "line 2: store is set twice"},
		{"rest-addr:\n  - a\n  - b\n", "rest-addr takes one value, not a list"},
		{"rest-addr:\n", "rest-addr has no value"},
		{"- rest-addr\n", "not a mapping"},
		{"version: true\n", `"version" is not a setting`},
		{"config: other.yaml\n", `"config" is not a setting`},
		{"shutdown-grace: soon\n", "line 1: shutdown-grace"},
		{"rest-addr: [unclosed\n", "yaml"},
	} {
		_, _, err := configured(t, []string{"--config", writeConfig(t, tc.text)}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
	if _, _, err := configured(t, []string{"--config", "/nonexistent/gateway.yaml"}, nil); err == nil {
		t.Error("a missing --config file is accepted")
	}
	// An empty file sets nothing.
	if cfg, _, err := configured(t, []string{"--config", writeConfig(t, "")}, nil); err != nil || cfg.RESTAddr != ":6794" {
		t.Errorf("an empty file: %v %q", err, cfg.RESTAddr)
	}
}

// A mistyped flag is named with the nearest flag; Go's one-dash style is
// told to take two.
func TestFlagSuggestions(t *testing.T) {
	for args, want := range map[string]string{
		"--rest-adr :1":   "did you mean --rest-addr?",
		"--stor memory":   "did you mean --store?",
		"-rest-addr :1":   "flags take two dashes: --rest-addr",
		"--no-such-thing": "unknown flag: --no-such-thing (see --help)",
	} {
		err := run(context.Background(), strings.Fields(args), func(string) string { return "" }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

// The help lists every flag once, in its group, with its variable.
func TestHelpGroupsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	var cfg app.Config
	var o options
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	defineFlags(fs, &cfg, &o, func(string) string { return "" })
	grouped := map[string]int{}
	for _, g := range flagGroups {
		if !strings.Contains(help, "\n"+g.title+":\n") {
			t.Errorf("the help has no group %q", g.title)
		}
		for _, f := range g.flags {
			grouped[f]++
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if grouped[f.Name] != 1 {
			t.Errorf("--%s is in %d groups", f.Name, grouped[f.Name])
		}
		if n := len(regexp.MustCompile(`(?m)^\s+(-\w, )?--`+f.Name+` `).FindAllString(help, -1)); n != 1 {
			t.Errorf("the help lists --%s %d times", f.Name, n)
		}
		if !notSettings[f.Name] && !strings.Contains(help, "["+envName(f.Name)+"]") {
			t.Errorf("the help does not name %s", envName(f.Name))
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"rest-addr: \":7001\"\nstore: memory\n",
		"etcd-endpoints: [a, b]\n",
		"- x\n",
		"shutdown-grace: 25s\nno-loopback-identity: true\n",
		"? [a]\n: b\n",
		"rest-addr: &a x\ngrpc-addr: *a\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var cfg app.Config
		var o options
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		defineFlags(fs, &cfg, &o, func(string) string { return "" })
		settings, err := parseConfig("f", b, fs)
		if err != nil {
			return
		}
		for _, s := range settings {
			if fs.Lookup(s.name) == nil || notSettings[s.name] {
				t.Fatalf("parsed a setting %q that is not one", s.name)
			}
			_ = fs.Set(s.name, s.value) // may be refused; must not panic
		}
	})
}

// The README's configuration file is read as it says.
func TestREADMEConfigFile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n# /etc/bcpii-gateway/gateway.yaml\n")
	text, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README has no gateway.yaml example")
	}
	cfg, _, err := configured(t, []string{"--config", writeConfig(t, text)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UsersFile != "/etc/bcpii-gateway/users.yaml" || cfg.ShutdownGrace != 20*time.Second || len(cfg.Etcd.Endpoints) != 2 {
		t.Errorf("the README's file gives %+v", cfg)
	}
}
