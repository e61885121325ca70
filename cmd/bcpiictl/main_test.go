package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// The test inventory gives each outcome an operation: LP2 activate
// succeeds quickly, LP1 (already operating) activate fails with 409.1,
// LP3 activate runs long, PART1 start runs long and can be canceled,
// PART2 stop succeeds quickly.
const inventory = `cpcs:
  - name: CPC1
    object-id: e199300c-0455-47d9-8c76-3ca3e6646afb
    target-name: IBM390PS.CPC1
    status: operating
    logical-partitions:
      - name: LP1
        object-id: 966349c5-ce85-48d4-b15d-c82d99835b98
        status: operating
        operations:
          activate: {duration: 200ms}
          load: {duration: 200ms}
          deactivate: {duration: 200ms}
          stop: {duration: 200ms}
          start: {duration: 200ms}
          reset-normal: {duration: 200ms}
          reset-clear: {duration: 200ms}
          psw-restart: {duration: 200ms}
      - name: LP2
        object-id: 732b5207-24d8-4994-81dc-c9f05bcd2917
        status: not-activated
        operations: {activate: {duration: 200ms}}
      - name: LP3
        object-id: ab648f14-bb53-4a8b-b2bd-7c224d5b4360
        status: not-operating
        operations: {activate: {duration: 1h}, reset-normal: {duration: 200ms}}
  - name: CPC2
    object-id: 7689e368-4186-4d7c-b2d5-57241f8c56ca
    target-name: IBM390PS.CPC2
    dpm-enabled: true
    status: operating
    partitions:
      - name: PART1
        object-id: 92191903-466e-4468-b537-135aa94c137c
        status: stopped
        operations: {start: {duration: 1h}}
      - name: PART2
        object-id: a02f7db8-2d58-46ca-ae77-f3560647982d
        status: active
        operations: {stop: {duration: 200ms}}
`

// The API user of the tests and their password.
const testUser, testPassword = "alice", "correct horse"

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// binary builds bcpiictl once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bcpiictl-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "bcpiictl")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

type cli struct {
	bin, home string
	addrs     app.Addresses
	data      string
	env       []string
}

// gatewayOptions change the test gateway.
type gatewayOptions struct {
	plaintext bool
	inventory string // "" for the test inventory; "-" for the built-in one
	dataDir   string // "" for one in the test's temporary directory
	home      string // "" for the test's temporary directory
	// allPorts serves the admin and STOMP ports too.
	allPorts bool
	// noLoopback: a caller from loopback is not the local partition.
	noLoopback bool
}

func setup(t *testing.T) cli { return setupWith(t, gatewayOptions{}) }

// setupWith starts a gateway in-process on loopback ports of its own
// choosing and returns the environment that points bcpiictl at it.
func setupWith(t *testing.T, o gatewayOptions) cli {
	t.Helper()
	dir := t.TempDir()
	if o.home == "" {
		o.home = dir
	}
	if o.dataDir == "" {
		o.dataDir = filepath.Join(dir, "data")
	}
	cfg := app.Config{
		DataDir: o.dataDir, GRPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", Socket: "-",
		Store: app.StoreMemory, Plaintext: o.plaintext, UsersFile: writeUsers(t, dir),
	}
	cfg.NoLoopbackIdentity = o.noLoopback
	if o.allPorts {
		cfg.AdminAddr, cfg.StompAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	switch o.inventory {
	case "":
		cfg.Inventory = filepath.Join(dir, "inventory.yaml")
		if err := os.WriteFile(cfg.Inventory, []byte(inventory), 0o600); err != nil {
			t.Fatal(err)
		}
	case "-":
	default:
		cfg.Inventory = o.inventory
	}
	a := startGateway(t, cfg)
	c := cli{bin: binary(t), home: o.home, addrs: a, data: o.dataDir, env: []string{
		"BCPII_ADDR=" + a.GRPC,
		"HOME=" + o.home,
		"PATH=" + os.Getenv("PATH"),
	}}
	if !o.plaintext {
		c.env = append(c.env, "BCPII_CA="+filepath.Join(o.dataDir, "tls", "gateway.crt"))
	}
	return c
}

func writeUsers(t *testing.T, dir string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users.yaml")
	body := "users:\n  - name: " + testUser + "\n    password-hash: \"" + string(h) + "\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startGateway(t *testing.T, cfg app.Config) app.Addresses {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan app.Addresses, 1)
	done := make(chan error, 1)
	if cfg.StompAddr == "" {
		cfg.StompAddr = "-"
	}
	cfg.OnListening = func(a app.Addresses) { addrs <- a }
	go func() { done <- app.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	started, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	var a app.Addresses
	select {
	case a = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("gateway: %v", err)
	case <-started.Done():
		cancel()
		t.Fatal("gateway did not start within 30s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	return a
}

// result is what a run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the built binary, piped (not a terminal).
func (c cli) run(t *testing.T, args ...string) result {
	t.Helper()
	return c.runInput(t, "", args...)
}

func (c cli) runInput(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	// A command that never ends is killed, failing the test, rather than
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bcpiictl %v did not end within a minute", args)
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return r
}

// want fails the test unless r exited with code.
func (r result) want(t *testing.T, code int, args ...string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("bcpiictl %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, code, r.stdout, r.stderr)
	}
	return r
}

// ok runs args and wants exit 0.
func (c cli) ok(t *testing.T, args ...string) string {
	t.Helper()
	return c.run(t, args...).want(t, exitOK, args...).stdout
}

// jobOf is the job id in a --no-wait answer, /api/jobs/ID.
func jobOf(t *testing.T, out string) string {
	t.Helper()
	uri := strings.TrimSpace(out)
	if !strings.HasPrefix(uri, "/api/jobs/") || strings.Contains(uri, "\n") {
		t.Fatalf("not a job URI: %q", out)
	}
	return strings.TrimPrefix(uri, "/api/jobs/")
}

// lines reads a stream's lines as they come, for a test that acts on
// output before the process ends.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		var b [4096]byte
		var pending string
		for {
			n, err := r.Read(b[:])
			pending += string(b[:n])
			for {
				i := strings.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				ch <- pending[:i]
				pending = pending[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}
