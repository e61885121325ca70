package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// imageConfig is what the Dockerfile's final stage runs: its entrypoint and
// environment.
type imageConfig struct {
	entrypoint []string
	env        map[string]string
	expose     []string
}

func readImageConfig(t *testing.T) imageConfig {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	c := imageConfig{env: map[string]string{}}
	for _, line := range strings.Split(text, "\n") {
		instr, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			c = imageConfig{env: map[string]string{}} // the last stage counts
		case "ENV":
			for _, kv := range strings.Fields(args) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					c.env[k] = v
				}
			}
		case "EXPOSE":
			c.expose = strings.Fields(args)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(args), &c.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s: %v", args, err)
			}
		}
	}
	return c
}

// run runs a command, failing the test with its output if it fails.
func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netns makes a network namespace joined to this one by a veth pair and
// returns its name and the address of this side, which the namespace
// reaches over the veth: its traffic to the gateway is not loopback. It
// skips the test where namespaces cannot be made, and fails it in CI.
func netns(t *testing.T) (ns, hostAddr string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil || os.Geteuid() != 0 {
		msg := "network namespaces need root and iproute2"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	n := os.Getpid() % 250
	ns = fmt.Sprintf("bcpiitest%d", os.Getpid())
	host, peer := fmt.Sprintf("bcpiih%d", n), fmt.Sprintf("bcpiin%d", n)
	hostAddr, peerAddr := fmt.Sprintf("10.213.%d.1", n), fmt.Sprintf("10.213.%d.2", n)
	runCmd(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	runCmd(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	runCmd(t, "ip", "link", "set", peer, "netns", ns)
	runCmd(t, "ip", "addr", "add", hostAddr+"/30", "dev", host)
	runCmd(t, "ip", "link", "set", host, "up")
	runCmd(t, "ip", "netns", "exec", ns, "ip", "addr", "add", peerAddr+"/30", "dev", peer)
	runCmd(t, "ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
	runCmd(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	return ns, hostAddr
}

// TestContainerIdentity runs the gateway as the image runs it (the
// Dockerfile's entrypoint and environment, its /data and /config in
// temporary directories, the ports on all addresses as published), and
// calls it from another network namespace, as a program outside the
// container does: with no credentials it is refused (403.4, as loopback is
// no identity there), as an API user of the users file or with a
// partition's client certificate it is served.
func TestContainerIdentity(t *testing.T) {
	img := readImageConfig(t)
	if img.env["BCPII_NO_LOOPBACK_IDENTITY"] != "true" || img.env["BCPII_USERS_FILE"] == "" || len(img.entrypoint) != 1 {
		t.Fatalf("the image's configuration: %+v", img)
	}
	for _, port := range []string{"6794", "6795", "6796", "61612"} {
		if !strings.Contains(" "+strings.Join(img.expose, " ")+" ", " "+port+" ") {
			t.Errorf("the image does not expose %s", port)
		}
	}
	ns, hostAddr := netns(t)
	bin := buildGateway(t)
	dir := t.TempDir()
	data, config := filepath.Join(dir, "data"), filepath.Join(dir, "config")
	if err := os.MkdirAll(config, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, caKey := testCA(t, filepath.Join(dir, "client-ca.pem"))
	certFile, keyFile := partitionCert(t, dir, ca, caKey, "IBM390PS.CPC1.LP2")
	// The users file the operator mounts at /config/users.yaml.
	hash := runCmd(t, "sh", "-c", "printf '%s\\n' 'Container-Passw0rd-1' | "+bin+" hash-password alice")
	if err := os.WriteFile(filepath.Join(config, "users.yaml"), []byte("users:\n"+hash), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "BCPII_CLIENT_CA=" + filepath.Join(dir, "client-ca.pem")}
	for k, v := range img.env {
		v = strings.Replace(v, "/data", data, 1)
		v = strings.Replace(v, "/config", config, 1)
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(bin, "--rest-addr", ":0", "--grpc-addr", ":0", "--stomp-addr", ":0", "--admin-addr", "127.0.0.1:0", "--store", "memory")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	restPort := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg="rest listening" addr=\S*:(\d+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				restPort <- m[1]
			}
		}
	}()
	var port string
	select {
	case port = <-restPort:
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway did not listen within 60s")
	}
	caFile := filepath.Join(data, "tls", "gateway.crt")
	// curl runs in the namespace; the gateway's certificate names
	// localhost, which --resolve points at this side of the veth.
	curl := func(args ...string) (int, map[string]any) {
		t.Helper()
		base := []string{"netns", "exec", ns, "curl", "-s", "--max-time", "20", "--cacert", caFile,
			"--resolve", "localhost:" + port + ":" + hostAddr, "-w", "\n%{http_code}"}
		out := runCmd(t, "ip", append(base, args...)...)
		body, code, _ := strings.Cut(strings.TrimSpace(out), "\n")
		if i := strings.LastIndex(out, "\n"); i >= 0 {
			body, code = strings.TrimSpace(out[:i]), strings.TrimSpace(out[i+1:])
		}
		var n int
		fmt.Sscan(code, &n)
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return n, m
	}
	u := "https://localhost:" + port
	if code, e := curl(u + "/api/cpcs"); code != 403 || e["reason"] != 4.0 {
		t.Fatalf("without credentials: %d %v, want 403.4", code, e)
	}
	code, logon := curl("-X", "POST", "-H", "Content-Type: application/json", "-d", `{"userid":"alice","password":"Container-Passw0rd-1"}`, u+"/api/sessions")
	if code != 200 {
		t.Fatalf("logon: %d %v", code, logon)
	}
	if code, cpcs := curl("-H", "X-API-Session: "+logon["api-session"].(string), u+"/api/cpcs"); code != 200 || cpcs["cpcs"] == nil {
		t.Fatalf("as alice: %d %v", code, cpcs)
	}
	if code, cpcs := curl("--cert", certFile, "--key", keyFile, u+"/api/cpcs"); code != 200 || cpcs["cpcs"] == nil {
		t.Fatalf("as LP2 by its certificate: %d %v", code, cpcs)
	}
}

// testCA writes a CA certificate to path and returns it and its key.
func testCA(t *testing.T, path string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partitions CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// partitionCert writes a client certificate naming the partition target,
// signed by ca, and its key; it returns their files.
func partitionCert(t *testing.T, dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, target string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("urn:bcpii:partition:" + target)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: target},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, "lp2.crt"), filepath.Join(dir, "lp2.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}
