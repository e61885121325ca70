package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// TestEtcdCredentials runs the gateway on an etcd that requires a user:
// the user from a file lets it start; a wrong password stops it with an
// error that names neither password; the environment gives the user
// too. No credential is ever on the command line.
func TestEtcdCredentials(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const prefix = "/bcpii-gateway/"
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "root-pw-1"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "gw", "gw-etcd-pw-7"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "gw"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "gw", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserGrantRole(ctx, "gw", "gw"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	bin := buildGateway(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hmcCreds := write("hmc", "userid: u\npassword: hmc-pw-3\n")
	args := []string{"--store", "etcd", "--etcd-endpoints", srv.Endpoint(), "--backend", "hmc",
		"--hmc-url", "https://127.0.0.1:1", "--hmc-credentials", hmcCreds, "--socket", "-"}

	// The right user from a file: the gateway starts and serves.
	startGateway(t, bin, append(args, "--etcd-credentials", write("etcd-good", "userid: gw\npassword: gw-etcd-pw-7\n"))...)

	// The right user from the environment: it starts too.
	envStart(t, bin, args, "BCPII_ETCD_USERID=gw", "BCPII_ETCD_PASSWORD=gw-etcd-pw-7")

	// A wrong password, from a file or the environment, or none: it stops,
	// saying why without either password.
	for name, c := range map[string]struct {
		args []string
		env  []string
	}{
		"file":        {append(args, "--etcd-credentials", write("etcd-bad", "userid: gw\npassword: wrong-pw-5\n")), nil},
		"environment": {args, []string{"BCPII_ETCD_USERID=gw", "BCPII_ETCD_PASSWORD=wrong-pw-5"}},
		"no user":     {args, nil},
	} {
		t.Run(name, func(t *testing.T) {
			run, stop := context.WithTimeout(context.Background(), 60*time.Second) // bounds a gateway that would not stop
			defer stop()
			cmd := exec.CommandContext(run, bin, append([]string{"--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0",
				"--admin-addr", "-", "--stomp-addr", "-", "--data-dir", t.TempDir()}, c.args...)...)
			cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, c.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil || run.Err() != nil {
				t.Fatalf("the gateway with a wrong etcd password: %v (stopped by the bound: %v)\n%s", err, run.Err() != nil, stderr.String())
			}
			out := stderr.String()
			if !strings.Contains(out, "etcd") || strings.Contains(out, "wrong-pw-5") || strings.Contains(out, "gw-etcd-pw-7") {
				t.Errorf("the error does not say etcd, or shows a password:\n%s", out)
			}
		})
	}
}

// envStart runs the gateway with env added to a bare environment and
// waits, bounded, until it listens; it is killed when the test ends.
func envStart(t *testing.T, bin string, args []string, env ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0",
		"--admin-addr", "-", "--stomp-addr", "-", "--data-dir", t.TempDir()}, args...)...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	bound := time.NewTimer(60 * time.Second) // bounds a gateway that never listens
	defer bound.Stop()
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the gateway exited without listening:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.Contains(l, "grpc listening") {
				go func() {
					for range lines { // keep draining stderr
					}
				}()
				return
			}
		case <-bound.C:
			t.Fatalf("the gateway did not listen within 60s:\n%s", strings.Join(seen, "\n"))
		}
	}
}
