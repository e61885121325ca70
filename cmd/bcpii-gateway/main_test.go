package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
)

var listenRE = regexp.MustCompile(`msg="(grpc|rest) listening" addr=(\S+)`)

// startGateway runs the built binary with HOME pointing at an empty
// directory, so it starts from no files at all, and returns the gRPC
// address and the data directory it chose.
func startGateway(t *testing.T, bin string, args ...string) (cmd *exec.Cmd, grpcAddr, restAddr, dataDir string) {
	t.Helper()
	return startGatewayIn(t, nil, bin, args...)
}

// startGatewayIn is startGateway with the binary run by the command in,
// such as ip netns exec NS.
func startGatewayIn(t *testing.T, in []string, bin string, args ...string) (cmd *exec.Cmd, grpcAddr, restAddr, dataDir string) {
	t.Helper()
	home := t.TempDir()
	argv := append(append(append([]string{}, in...), bin, "--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--stomp-addr", "127.0.0.1:0"), args...)
	cmd = exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addrs := make(chan [2]string, 2)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- [2]string{m[1], m[2]}
			}
		}
		close(addrs)
	}()
	// Bounds the wait for a real process: one that never listens fails
	// the test.
	timeout, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for grpcAddr == "" || restAddr == "" {
		select {
		case a, ok := <-addrs:
			if !ok {
				t.Fatal("gateway exited without listening")
			}
			if a[0] == "grpc" {
				grpcAddr = a[1]
			} else {
				restAddr = a[1]
			}
		case <-timeout.Done():
			t.Fatal("gateway did not start listening within 60s")
		}
	}
	return cmd, grpcAddr, restAddr, filepath.Join(home, ".local", "share", "bcpii-gateway")
}

func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bcpii-gateway")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The gateway starts from nothing, serves TLS with the certificate it made
// in its data directory (verified against that file, not skipped), answers
// over gRPC, and stops cleanly on SIGTERM.
func TestDefaultsTLSAndGracefulShutdown(t *testing.T) {
	bin := buildGateway(t)
	cmd, addr, restAddr, dataDir := startGateway(t, bin)

	pem, err := os.ReadFile(filepath.Join(dataDir, "tls", "gateway.crt"))
	if err != nil {
		t.Fatalf("no generated certificate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "jobs.db")); err != nil {
		t.Fatalf("no bbolt store in the data directory: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("generated certificate does not parse")
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	jobsClient := bcpiiv1.NewJobServiceClient(conn)
	list, err := jobsClient.ListJobs(ctx, &bcpiiv1.ListJobsRequest{})
	if err != nil || len(list.Jobs) != 0 {
		t.Fatalf("ListJobs on a new gateway: %v %v", list, err)
	}
	_, err = jobsClient.GetJob(ctx, &bcpiiv1.GetJobRequest{JobId: "0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("GetJob of an unknown job: %v", err)
	}

	// REST answers over HTTPS, verified against the same certificate.
	httpClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	defer httpClient.CloseIdleConnections()
	resp, err := httpClient.Get("https://" + restAddr + "/api/jobs/0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" ||
		!strings.Contains(string(body), `"http-status":404`) || !strings.Contains(string(body), `"reason":1`) {
		t.Fatalf("REST answer %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	// A client that does not trust the certificate is refused.
	untrusted := credentials.NewTLS(&tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"})
	bad, err := grpc.NewClient(addr, grpc.WithTransportCredentials(untrusted))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := healthpb.NewHealthClient(bad).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("untrusted client: %v, want Unavailable", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-stopped.Done():
		t.Fatal("gateway did not stop within 30s of SIGTERM")
	}
}

// noFixedPorts makes run listen on ports of the system's choosing and on
// no Unix socket, so that a configuration a test expects refused, if it is
// accepted, neither binds the gateway's well-known ports nor clashes with
// another test.
var noFixedPorts = []string{"--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--stomp-addr", "127.0.0.1:0", "--socket", "-"}

// runBounded calls run with args after --data-dir and noFixedPorts, and
// fails the test if run has not returned within a minute: with an ended
// ctx, a gateway that starts returns at once.
func runBounded(t *testing.T, ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	t.Helper()
	args = append(append([]string{"--data-dir", t.TempDir()}, noFixedPorts...), args...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, strings.NewReader(""), io.Discard, stderr) }()
	bound, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case err := <-done:
		return err
	case <-bound.Done():
		t.Fatalf("run(%v) did not return within a minute of its context ending", args)
		return nil
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	getenv := func(string) string { return "" }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"--store", "sqlite"},
		{"--retention", "1h"},
		{"--tls-cert", "x.pem"},
		{"--log-format", "xml"},
		{"--max-conns-per-source", "-1"},
		{"extra"},
		{"--backend", "zvm"},
		{"--backend", "hmc"}, // no URL, no credentials
		{"--backend", "hmc", "--hmc-url", "http://hmc.example.com"},                                               // not HTTPS
		{"--backend", "hmc", "--hmc-url", "https://hmc.example.com"},                                              // no credentials
		{"--hmc-url", "https://hmc.example.com"},                                                                  // HMC settings with the sim backend
		{"--backend", "hmc", "--hmc-url", "https://hmc.example.com", "--hmc-fingerprint", "AB"},                   // not a fingerprint
		{"--store", "etcd", "--backend", "hmc", "--hmc-url", "https://hmc.example.com", "--hmc-credentials", "c"}, // no endpoints
		{"--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:1"},                                             // the sim backend
		{"--etcd-prefix", "/gw/"}, // etcd settings with the bbolt store
		{"--store", "etcd", "--etcd-endpoints", "127.0.0.1:2379", "--backend", "hmc", "--hmc-url", "https://hmc.example.com", "--hmc-credentials", "c"}, // not a URL
	} {
		err := runBounded(t, canceled, args, getenv, io.Discard)
		if err == nil {
			t.Errorf("run(%v) accepted", args)
		}
	}
}

func TestDefaultDataDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BCPII_DATA_DIR": "/srv/b", "HOME": "/h"}, "/srv/b"},
		{map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/bcpii-gateway"},
		{map[string]string{"HOME": "/h"}, "/h/.local/share/bcpii-gateway"},
	}
	for _, c := range cases {
		if got := defaultDataDir(env(c.env)); got != c.want {
			t.Errorf("defaultDataDir(%v) = %q, want %q", c.env, got, c.want)
		}
	}
	if !strings.HasSuffix(defaultDataDir(env(nil)), "bcpii-gateway-data") {
		t.Error("no fallback data directory")
	}
}

// The hmc backend takes its credentials from the environment (never from a
// flag) or from a file, not both; with them the configuration is accepted
// and the gateway starts, contacting the HMC only when asked to.
func TestRunHMCCredentials(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	creds := filepath.Join(t.TempDir(), "hmc-credentials")
	if err := os.WriteFile(creds, []byte("userid: gw\npassword: s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hmc := []string{"--backend", "hmc", "--hmc-url", "https://127.0.0.1:1", "--hmc-poll-interval", "1s"}
	withEnv := env(map[string]string{"BCPII_HMC_USERID": "gw", "BCPII_HMC_PASSWORD": "s3cr3t"})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		args   []string
		getenv func(string) string
		ok     bool
	}{
		{"environment", hmc, withEnv, true},
		{"file", append(hmc, "--hmc-credentials", creds), env(nil), true},
		{"file and environment", append(hmc, "--hmc-credentials", creds), withEnv, false},
		{"userid only", hmc, env(map[string]string{"BCPII_HMC_USERID": "gw"}), false},
		{"missing file", append(hmc, "--hmc-credentials", creds+".none"), env(nil), false},
		{"environment with the sim backend", nil, withEnv, true}, // ignored
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr apptest.LogBuffer // written by run's goroutine
			err := runBounded(t, canceled, tc.args, tc.getenv, &stderr)
			if (err == nil) != tc.ok {
				t.Fatalf("run: %v (ok %v)\n%s", err, tc.ok, stderr.String())
			}
			if strings.Contains(stderr.String(), "s3cr3t") || err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the password was printed: %v\n%s", err, stderr.String())
			}
		})
	}
}

// A job the gateway accepted (its 202 answered) is still there after the
// gateway is killed with SIGKILL and started again on the same data, and
// ended, since the operation that ran it died too.
func TestAcceptedJobSurvivesKill9(t *testing.T) {
	bin := buildGateway(t)
	data := filepath.Join(t.TempDir(), "data")
	dial := func(addr string) (*grpc.ClientConn, context.Context) {
		t.Helper()
		conn := dialTLS(t, addr, data)
		t.Cleanup(func() { conn.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return conn, metadata.AppendToOutgoingContext(ctx, "x-api-target-name", "IBM390PS.CPC1.LP2")
	}

	cmd, addr, _, _ := startGateway(t, bin, "--data-dir", data)
	conn, ctx := dial(addr)
	resp, err := bcpiiv1.NewOperationServiceClient(conn).Invoke(ctx, &bcpiiv1.InvokeRequest{
		Method: "POST", Uri: "/api/logical-partitions/732b5207-24d8-4994-81dc-c9f05bcd2917/operations/activate",
		TargetName: "IBM390PS.CPC1.LP2",
	})
	if err != nil || resp.HttpStatus != 202 || resp.JobUri == "" {
		t.Fatalf("activate: %v %v", resp, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	_, addr, _, _ = startGateway(t, bin, "--data-dir", data)
	conn, ctx = dial(addr)
	id := strings.TrimPrefix(resp.JobUri, "/api/jobs/")
	// The simulated SE that ran it died with the process; the restarted
	// one ends it rather than leave it running for ever. It does so as it
	// starts, beside the listeners: wait for it, bounded.
	got, err := bcpiiv1.NewJobServiceClient(conn).WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: durationpb.New(10 * time.Second)})
	if err != nil {
		t.Fatalf("WaitJob after kill -9 and restart: %v", err)
	}
	if got.GetTimedOut() || got.Job.Status != bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || got.Job.GetJobStatusCode() != 503 || got.Job.GetJobReasonCode() != 1 {
		t.Fatalf("job after restart: %v, want complete 503.1", got.Job)
	}
}
