package bcpiigateway

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// No container engine runs in CI, so the Dockerfile is checked for what
// the image must be: built in one stage, run from another, a static binary,
// a non-root user, the data on a volume.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms, copyFrom int
	var user, volume, entrypoint, static bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, args, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			froms++
		case "COPY":
			if strings.HasPrefix(args, "--from=") {
				copyFrom++
			}
		case "RUN":
			static = static || strings.Contains(args, "CGO_ENABLED=0")
		case "USER":
			u, _, _ := strings.Cut(strings.TrimSpace(args), ":")
			user = u != "" && u != "0" && u != "root"
		case "VOLUME":
			volume = strings.Contains(args, "/data")
		case "ENTRYPOINT":
			entrypoint = strings.Contains(args, "bcpii-gateway")
		}
	}
	if froms < 2 || copyFrom < 1 {
		t.Errorf("not multi-stage: %d FROM, %d COPY --from", froms, copyFrom)
	}
	if !static || !user || !volume || !entrypoint {
		t.Errorf("static %v, non-root user %v, data volume %v, entrypoint %v", static, user, volume, entrypoint)
	}
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("deploy/systemd/bcpii-gateway.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") {
			set[l] = true
		}
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/bcpii-gateway", "User=bcpii-gateway", "Group=bcpii", "StateDirectory=bcpii-gateway",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"CapabilityBoundingSet=", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
		"MemoryDenyWriteExecute=yes", "KillSignal=SIGTERM",
	} {
		if !set[want] {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

// The LICENSE is the Apache License 2.0 exactly as the ASF publishes it.
func TestLicense(t *testing.T) {
	b, err := os.ReadFile("LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	const apache20 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != apache20 {
		t.Errorf("LICENSE is not the Apache License 2.0 text (sha256 %x)", sum)
	}
}

func TestDashboardAndAlerts(t *testing.T) {
	b, err := os.ReadFile("deploy/grafana/bcpii-gateway.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil || dash.UID == "" || len(dash.Panels) < 10 {
		t.Fatalf("dashboard: %v, %d panels", err, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	b, err = os.ReadFile("deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string            `yaml:"alert"`
				Expr  string            `yaml:"expr"`
				For   string            `yaml:"for"`
				Label map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil || len(rules.Groups) == 0 {
		t.Fatalf("alerts: %v", err)
	}
	names := map[string]bool{}
	for _, r := range rules.Groups[0].Rules {
		names[r.Alert] = true
		if r.Expr == "" || r.Label["severity"] == "" {
			t.Errorf("alert %q lacks an expression or a severity", r.Alert)
		}
	}
	for _, want := range []string{"BCPiiUpstreamUnreachable", "BCPiiJobPastExpectedDuration", "BCPiiStoreErrors"} {
		if !names[want] {
			t.Errorf("no alert %s", want)
		}
	}
}
