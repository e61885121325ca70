package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

const usageHint = "Run 'bcpiictl --help' for usage.\n"

// Each connection error says what is wrong and which flag changes it.
func TestConnectionErrors(t *testing.T) {
	c := setupWith(t, gatewayOptions{allPorts: true})
	plain := setupWith(t, gatewayOptions{plaintext: true})
	noIdentity := setupWith(t, gatewayOptions{noLoopback: true})
	other := writeOtherCA(t)
	gatewayCert := readCert(t, filepath.Join(c.data, "tls", "gateway.crt"))
	closed := closedAddr(t)

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{{
		name: "no gateway at the address",
		args: []string{"--addr", closed, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: no gateway answers at " + closed + " (connection refused); start one, or name its gRPC address with --addr or BCPII_ADDR\n",
	}, {
		name: "no gateway, from BCPII_ADDR",
		env:  []string{"BCPII_ADDR=" + closed},
		args: []string{"list"},
		code: exitError,
		want: "bcpiictl: no gateway answers at " + closed + " (connection refused); start one, or name its gRPC address with --addr or BCPII_ADDR\n",
	}, {
		name: "unknown certificate",
		args: []string{"--ca", other, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: the gateway at " + c.addrs.GRPC + " presented a certificate that " + other + " does not vouch for (SHA-256 fingerprint " +
			tlsutil.FormatFingerprint(sha256.Sum256(gatewayCert.Raw)) + "); if that is the fingerprint the gateway logged at start, trust its certificate with --ca or BCPII_CA\n",
	}, {
		name: "plaintext to a TLS gateway",
		args: []string{"--plaintext", "cpc", "list"},
		code: exitError,
		want: "bcpiictl: the gateway at " + c.addrs.GRPC + " serves gRPC over TLS: drop --plaintext\n",
	}, {
		name: "TLS to a plaintext gateway",
		args: []string{"--addr", plain.addrs.GRPC, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: the gateway at " + plain.addrs.GRPC + " serves gRPC without TLS (it runs with --plaintext): add --plaintext\n",
	}, {
		name: "TLS to a plaintext gateway, with no certificate to trust",
		env:  []string{"BCPII_CA=" + filepath.Join(t.TempDir(), "absent.crt")},
		args: []string{"--addr", plain.addrs.GRPC, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: the gateway at " + plain.addrs.GRPC + " serves gRPC without TLS (it runs with --plaintext): add --plaintext\n",
	}, {
		name: "the REST port",
		args: []string{"--addr", c.addrs.REST, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: " + c.addrs.REST + " is a REST (HMC Web Services API) port, not the gateway's gRPC port: bcpiictl speaks gRPC, " +
			"on port 6795 unless the gateway runs with --grpc-addr; name it with --addr or BCPII_ADDR\n",
	}, {
		name: "the REST port of a plaintext gateway",
		args: []string{"--plaintext", "--addr", plain.addrs.REST, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: " + plain.addrs.REST + " is a REST (HMC Web Services API) port, not the gateway's gRPC port: bcpiictl speaks gRPC, " +
			"on port 6795 unless the gateway runs with --grpc-addr; name it with --addr or BCPII_ADDR\n",
	}, {
		name: "no identity",
		env:  []string{"BCPII_ADDR=" + noIdentity.addrs.GRPC, "BCPII_CA=" + filepath.Join(noIdentity.data, "tls", "gateway.crt")},
		args: []string{"cpc", "list"},
		code: exitError,
		want: "bcpiictl: 403.4: The request requires an API session, and the X-API-Session header is missing. The gateway does not take this host " +
			"for its partition: log on as an API user with 'bcpiictl logon USER' (or --user, --session), connect over its Unix socket with --socket, " +
			"or use a partition's certificate with --cert and --key\n",
	}, {
		name: "the admin port",
		args: []string{"--addr", c.addrs.Admin, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: " + c.addrs.Admin + " answers plain HTTP, as the gateway's admin port (/metrics, /readyz) does, not gRPC: bcpiictl speaks gRPC, " +
			"on port 6795 unless the gateway runs with --grpc-addr; name it with --addr or BCPII_ADDR\n",
	}, {
		name: "the STOMP port",
		args: []string{"--addr", c.addrs.STOMP, "cpc", "list"},
		code: exitError,
		want: "bcpiictl: " + c.addrs.STOMP + " is a STOMP (HMC notifications) port, not the gateway's gRPC port: bcpiictl speaks gRPC, " +
			"on port 6795 unless the gateway runs with --grpc-addr; name it with --addr or BCPII_ADDR\n",
	}, {
		name: "malformed --target",
		args: []string{"get", "0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10", "--target", "IBM390PS..LP2"},
		code: exitUsage,
		want: "bcpiictl: --target: target name \"IBM390PS..LP2\": NAU is empty\n" + usageHint,
	}, {
		name: "malformed --target of invoke",
		args: []string{"invoke", "GET", "/api/cpcs/x", "--target", "IBM390PS.CPC1.LP-2"},
		code: exitUsage,
		want: "bcpiictl: --target: target name \"IBM390PS.CPC1.LP-2\": LPARNAME \"LP-2\" contains '-', which is not one of A-Z 0-9\n" + usageHint,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			run := c
			run.env = append(append([]string(nil), c.env...), tc.env...)
			r := run.run(t, tc.args...)
			if r.code != tc.code || r.stderr != tc.want || r.stdout != "" {
				t.Errorf("exit %d, want %d\nstderr %q\nwant   %q\nstdout %q", r.code, tc.code, r.stderr, tc.want, r.stdout)
			}
		})
	}
	// With --plaintext, the plaintext gateway answers.
	run := plain
	run.env = append(run.env, "BCPII_ADDR="+plain.addrs.GRPC)
	run.ok(t, "--plaintext", "cpc", "list")
}

// closedAddr is a loopback address nothing listens on: one the kernel
// handed out and that was closed again.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// writeOtherCA writes a self-signed certificate that vouches for nothing
// the gateway presents.
func writeOtherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
