package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needRoot skips a test that makes users and groups where it cannot, and
// fails it in CI, which runs as root.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	missing := os.Geteuid() != 0
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = true
		}
	}
	if missing {
		msg := "needs root and " + strings.Join(tools, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, its
// ExecStart pointed at a built binary.
func TestSystemdUnitVerifies(t *testing.T) {
	needRoot(t, "systemd-analyze")
	bin := buildGateway(t)
	unit, err := os.ReadFile("../../deploy/systemd/bcpii-gateway.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bcpii-gateway.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/bcpii-gateway", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdSysusers applies the sysusers.d file to an empty root: it
// makes the unit's user and group, the user a member of the group.
func TestSystemdSysusers(t *testing.T) {
	needRoot(t, "systemd-sysusers")
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf, err := filepath.Abs("../../deploy/systemd/bcpii-gateway.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-sysusers", "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	groups, _ := os.ReadFile(filepath.Join(root, "etc", "group"))
	if !strings.Contains(string(passwd), "bcpii-gateway:x:") {
		t.Errorf("no user bcpii-gateway:\n%s", passwd)
	}
	member := false
	for _, l := range strings.Split(string(groups), "\n") {
		if f := strings.Split(l, ":"); len(f) == 4 && f[0] == "bcpii" && strings.Contains(","+f[3]+",", ",bcpii-gateway,") {
			member = true
		}
	}
	if !member {
		t.Errorf("bcpii-gateway is not in the group bcpii:\n%s", groups)
	}
	env := unitEnv(t)
	unit, _ := os.ReadFile("../../deploy/systemd/bcpii-gateway.service")
	if !strings.Contains(string(unit), "\nUser=bcpii-gateway\n") || !strings.Contains(string(unit), "\nGroup=bcpii\n") || env["BCPII_SOCKET_GROUP"] != "bcpii" {
		t.Error("the unit does not run as the sysusers.d file's user and group")
	}
}

// unitEnv is the unit's Environment= settings.
func unitEnv(t *testing.T) map[string]string {
	t.Helper()
	unit, err := os.ReadFile("../../deploy/systemd/bcpii-gateway.service")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(unit), "\n") {
		if kv, ok := strings.CutPrefix(strings.TrimSpace(l), "Environment="); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	return env
}

// TestSystemdLayout lays out what the unit makes, as the unit makes it (a
// service user whose group is the unit's, the state directory of the
// unit's mode, its environment and umask), runs the gateway in it as that
// user, and then: a user in the group runs bcpiictl with no flag and is
// the local partition over the Unix socket; a user outside it reads the
// certificate but not the key, and is refused the socket with a message
// that says why.
func TestSystemdLayout(t *testing.T) {
	needRoot(t, "useradd", "groupadd")
	env := unitEnv(t)
	if env["BCPII_SOCKET_GROUP"] != "bcpii" || env["BCPII_DATA_DIR"] != "/var/lib/bcpii-gateway" {
		t.Fatalf("the unit's environment: %v", env)
	}
	n := os.Getpid()
	group, service, member, other := fmt.Sprintf("bcpiig%d", n), fmt.Sprintf("bcpiis%d", n), fmt.Sprintf("bcpiim%d", n), fmt.Sprintf("bcpiio%d", n)
	runCmd(t, "groupadd", group)
	t.Cleanup(func() { _ = exec.Command("groupdel", group).Run() })
	for _, u := range []struct{ name, group string }{{service, group}, {member, group}, {other, ""}} {
		args := []string{"--no-create-home", "--shell", "/usr/sbin/nologin", u.name}
		if u.group != "" {
			args = append([]string{"--groups", u.group}, args...)
		}
		runCmd(t, "useradd", args...)
		name := u.name
		t.Cleanup(func() { _ = exec.Command("userdel", name).Run() })
	}
	cred := func(name string) *syscall.Credential {
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		ids, _ := u.GroupIds()
		for _, g := range ids {
			n, _ := strconv.Atoi(g)
			c.Groups = append(c.Groups, uint32(n))
		}
		return c
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)

	bin := buildGateway(t)
	ctl := filepath.Join(filepath.Dir(bin), "bcpiictl")
	if out, err := exec.Command("go", "build", "-o", ctl, "../bcpiictl").CombinedOutput(); err != nil {
		t.Fatalf("go build bcpiictl: %v\n%s", err, out)
	}
	// The binaries and the directories above the state directory are
	// reachable by every user, as /usr/local/bin and /var/lib are.
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root, filepath.Dir(bin)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(root, "bcpii-gateway")
	if err := os.Mkdir(state, 0o751); err != nil {
		t.Fatal(err)
	}
	sc := cred(service)
	if err := os.Chown(state, int(sc.Uid), gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o751); err != nil { // StateDirectoryMode
		t.Fatal(err)
	}

	// The gateway as the unit runs it: the service user, group bcpii,
	// umask 0077, the unit's environment with the data directory here.
	cmd := exec.Command("sh", "-c", "umask 0077; exec "+bin+" --rest-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --stomp-addr - --admin-addr - --store memory")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + root}
	for k, v := range env {
		v = strings.Replace(v, "/var/lib/bcpii-gateway", state, 1)
		v = strings.Replace(v, "=bcpii", "="+group, 1)
		if k == "BCPII_SOCKET_GROUP" {
			v = group
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: sc.Uid, Gid: uint32(gid)}}
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sock := filepath.Join(state, "grpc.sock")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, err := os.Stat(sock); err == nil && st.Mode().Perm() == 0o660 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket of mode 0660 within 60s\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond) // the other process's start, bounded above
	}

	mode := func(path string) (os.FileMode, uint32) {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid
	}
	for path, want := range map[string]os.FileMode{
		sock: 0o660, filepath.Join(state, "tls"): 0o711,
		filepath.Join(state, "tls", "gateway.crt"): 0o644, filepath.Join(state, "tls", "gateway.key"): 0o600,
	} {
		if got, _ := mode(path); got != want {
			t.Errorf("%s has mode %o, want %o", path, got, want)
		}
	}
	if _, sgid := mode(sock); sgid != uint32(gid) {
		t.Errorf("the socket's group is %d, want %s (%d)", sgid, group, gid)
	}

	as := func(name string, args ...string) (string, error) {
		c := exec.Command(args[0], args[1:]...)
		c.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + root + "/home-" + name, "BCPII_SYSTEM_DATA_DIR=" + state}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred(name)}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	// A member: bcpiictl with no flag, the local partition.
	if out, err := as(member, ctl, "cpc", "list"); err != nil || !strings.Contains(out, "IBM390PS.CPC1") {
		t.Fatalf("bcpiictl cpc list as a member of %s: %v\n%s", group, err, out)
	}
	// Anyone reads the certificate; no one but the gateway the key.
	if out, err := as(other, "cat", filepath.Join(state, "tls", "gateway.crt")); err != nil || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("the certificate as another user: %v %s", err, out)
	}
	if _, err := as(other, "cat", filepath.Join(state, "tls", "gateway.key")); err == nil {
		t.Error("another user reads the gateway's key")
	}
	out, err := as(other, ctl, "cpc", "list")
	if err == nil || !strings.Contains(out, "is not open to this user") {
		t.Errorf("bcpiictl cpc list outside the group: %v\n%s", err, out)
	}
}
