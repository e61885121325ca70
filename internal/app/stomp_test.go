package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// stompPython returns a Python interpreter that has stomp.py (Debian's
// python3-stomp). Without one the test is skipped on a workstation and
// fails in CI, which installs it (.ci/run).
func stompPython(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		tried = append(tried, path)
		if exec.Command(path, "-c", "import stomp").Run() == nil {
			return path
		}
	}
	msg := "no python3 with stomp.py (apt-get install python3-stomp); tried " + strings.Join(tried, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestStompPythonClient runs stomp.py, the library HMC clients build on,
// against the gateway over TLS: log on over REST, subscribe to the logon
// answer's job-notification-topic, start an operation, receive exactly
// one job-completion message carrying the job's URI, query the job once.
func TestStompPythonClient(t *testing.T) {
	python := stompPython(t)
	const user, password = "operator", "Stomp-Passw0rd-9x"
	var logs syncBuffer // shown if the client fails
	g := startGateway(t, slog.New(slog.NewTextHandler(&logs, nil)), func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{user: password})
	})
	if g.addrs.STOMP == "" {
		t.Fatal("the gateway announced no STOMP address")
	}
	objs := g.discover(t, g.restClient(t), nil)
	ca := filepath.Join(g.cfg.DataDir, "tls", "gateway.crt")

	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/stomp_client.py")
	cmd.Env = append(os.Environ(),
		"GATEWAY_REST="+g.addrs.REST,
		"GATEWAY_STOMP="+g.addrs.STOMP,
		"GATEWAY_CA="+ca,
		"GATEWAY_USER="+user,
		"GATEWAY_PASSWORD="+password,
		"GATEWAY_OPERATION="+objs["LP2"].uri+"/operations/activate",
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var result string
	for line := range lines {
		switch {
		case strings.HasPrefix(line, "retry "):
			t.Logf("stomp.py: %s", line) // its own TLS race, see the script
		case strings.HasPrefix(line, "started "):
			g.clock.Advance(3 * time.Second) // the simulated SE ends the job
		case strings.HasPrefix(line, "ok "):
			result = strings.TrimPrefix(line, "ok ")
		default:
			t.Errorf("stomp.py: %s", line)
		}
	}
	if err := cmd.Wait(); err != nil || result == "" {
		t.Fatalf("stomp.py client: %v\n%s\ngateway log:\n%s", err, stderr.String(), logs.String())
	}
	var r struct {
		Message map[string]string `json:"message"`
		Job     map[string]any    `json:"job"`
	}
	if err := json.Unmarshal([]byte(result), &r); err != nil {
		t.Fatal(err)
	}
	if r.Message["notification-type"] != "job-completion" || !strings.HasPrefix(r.Message["job-uri"], "/api/jobs/") ||
		r.Job["status"] != "complete" {
		t.Fatalf("stomp.py received %v, then queried %v", r.Message, r.Job)
	}
}
