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
// against the gateway over TLS, with each of its connection classes (1.0,
// 1.1 as its default stomp.Connection, 1.2) and configured as zhmcclient's
// NotificationReceiver configures it: log on over REST, subscribe to the
// logon answer's job-notification-topic, start an operation, receive
// exactly one job-completion message carrying the job's URI, query the
// job once.
func TestStompPythonClient(t *testing.T) {
	python := stompPython(t)
	for _, c := range []struct{ name, version, style string }{
		{"1.0", "1.0", ""},
		{"1.1", "1.1", ""},
		{"1.2", "1.2", ""},
		{"zhmcclient", "", "zhmcclient"},
	} {
		t.Run(c.name, func(t *testing.T) {
			runStompPython(t, python, "GATEWAY_STOMP_VERSION="+c.version, "GATEWAY_STOMP_STYLE="+c.style)
		})
	}
}

func runStompPython(t *testing.T, python string, env ...string) {
	const user, password = "operator", "Stomp-Passw0rd-9x"
	var logs syncBuffer // shown if the client fails
	subscribed := make(chan struct{}, 1)
	h := &onMessage{Handler: slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		msg: "stomp subscribed", seen: subscribed}
	g := startGateway(t, slog.New(h), func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{user: password})
	})
	if g.addrs.STOMP == "" {
		t.Fatal("the gateway announced no STOMP address")
	}
	objs := g.discover(t, g.restClient(t), nil)
	ca := filepath.Join(g.cfg.DataDir, "tls", "gateway.crt")

	// Room for the script's bounded waits and its retries.
	ctx, cancel := context.WithTimeout(context.Background(), 5*waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/stomp_client.py")
	cmd.Env = append(append(os.Environ(),
		"GATEWAY_REST="+g.addrs.REST,
		"GATEWAY_STOMP="+g.addrs.STOMP,
		"GATEWAY_CA="+ca,
		"GATEWAY_USER="+user,
		"GATEWAY_PASSWORD="+password,
		"GATEWAY_OPERATION="+objs["LP2"].uri+"/operations/activate",
	), env...)
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
		case line == "subscribed":
			// A client that asks no receipt: the job ends only once the
			// gateway has its subscription.
		case strings.HasPrefix(line, "started "):
			// A SUBSCRIBE that stomp.py lost never comes: the script then
			// runs the exchange again, after its own bounded wait.
			select {
			case <-subscribed:
			case <-time.After(waitLimit):
				t.Logf("the gateway logged no subscription within %v; the client will retry", waitLimit)
			case <-ctx.Done():
				t.Fatalf("the gateway logged no subscription\ngateway log:\n%s", logs.String())
			}
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

// onMessage is a log handler that reports on seen each record whose
// message is msg.
type onMessage struct {
	slog.Handler
	msg  string
	seen chan struct{}
}

func (h *onMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *onMessage) WithAttrs(as []slog.Attr) slog.Handler {
	return &onMessage{Handler: h.Handler.WithAttrs(as), msg: h.msg, seen: h.seen}
}

func (h *onMessage) WithGroup(name string) slog.Handler {
	return &onMessage{Handler: h.Handler.WithGroup(name), msg: h.msg, seen: h.seen}
}
