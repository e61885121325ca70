package bcpii

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

// newCert makes a real self-signed client certificate with the given URI
// names, through the same DER encoding and parsing a TLS handshake uses.
func newCert(t *testing.T, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "partition program"},
		DNSNames:     []string{"lp1.example"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestPartitionFromCertificate(t *testing.T) {
	lp1 := mustTarget(t, "IBM390PS.CPC1.LP1")
	hashed := mustTarget(t, "NET#1.CPC$@.LP1")
	tests := []struct {
		name    string
		uris    []string
		want    TargetName
		wantErr string
	}{
		{name: "valid", uris: []string{PartitionURI(lp1).String()}, want: lp1},

		{name: "beside other URI names", uris: []string{"spiffe://example.org/lp1", PartitionURI(lp1).String(), "https://example.org/"}, want: lp1},
		{name: "escaped #", uris: []string{PartitionURI(hashed).String()}, want: hashed},

		// One spelling per partition: any other is refused.
		{name: "name in lower case", uris: []string{"urn:bcpii:partition:ibm390ps.cpc1.lp2"}, wantErr: "is not spelt as urn:bcpii:partition:IBM390PS.CPC1.LP2"},
		{name: "prefix in upper case", uris: []string{"URN:BCPII:PARTITION:IBM390PS.CPC1.LP1"}, wantErr: "is not spelt as urn:bcpii:partition:IBM390PS.CPC1.LP1"},
		{name: "escaped letter", uris: []string{"urn:bcpii:partition:IBM390PS.CPC1.LP%32"}, wantErr: "is not spelt as urn:bcpii:partition:IBM390PS.CPC1.LP2"},
		{name: "literal #", uris: []string{"urn:bcpii:partition:NET#1.CPC$@.LP1"}, wantErr: "is not spelt as urn:bcpii:partition:NET%231.CPC$@.LP1"},

		{name: "none", wantErr: "has no urn:bcpii:partition: URI name"},
		{name: "only other URI names", uris: []string{"spiffe://example.org/lp1"}, wantErr: "has no urn:bcpii:partition: URI name"},
		{name: "two", uris: []string{PartitionURI(lp1).String(), "urn:bcpii:partition:IBM390PS.CPC1.LP2"}, wantErr: "has 2 urn:bcpii:partition: URI names"},
		{name: "the same one twice", uris: []string{PartitionURI(lp1).String(), PartitionURI(lp1).String()}, wantErr: "has 2"},
		{name: "one valid, one malformed", uris: []string{PartitionURI(lp1).String(), "urn:bcpii:partition:x"}, wantErr: "has 2"},
		{name: "malformed", uris: []string{"urn:bcpii:partition:IBM390PS.CPC1.1LP"}, wantErr: `LPARNAME "1LP" does not start with a letter`},
		{name: "malformed escape", uris: []string{"urn:bcpii:partition:IBM390PS.CPC1.LP%2"}, wantErr: "malformed %-escape"},
		{name: "fragment after the name", uris: []string{"urn:bcpii:partition:IBM390PS.CPC1.LP1#x"}, wantErr: `contains '#'`},
		{name: "query after the name", uris: []string{"urn:bcpii:partition:IBM390PS.CPC1.LP1?x"}, wantErr: `contains '?'`},
		{name: "empty name", uris: []string{"urn:bcpii:partition:"}, wantErr: "is empty"},
		{name: "CPC only", uris: []string{PartitionURI(lp1.CPC()).String()}, wantErr: "names the CPC IBM390PS.CPC1, not a logical partition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PartitionFromCertificate(newCert(t, tt.uris...))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %v, want an error containing %q", got, tt.wantErr)
			}
			if !errors.Is(err, ErrNoPartition) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want ErrNoPartition containing %q", err, tt.wantErr)
			}
			if !got.IsZero() {
				t.Fatalf("got %v beside the error", got)
			}
		})
	}

	if _, err := PartitionFromCertificate(nil); !errors.Is(err, ErrNoPartition) {
		t.Errorf("nil certificate: %v", err)
	}
}

func TestPartitionURI(t *testing.T) {
	for in, want := range map[string]string{
		"ibm390ps.cpc1.lp1": "urn:bcpii:partition:IBM390PS.CPC1.LP1",
		"NET#1.#CPC.LP1":    "urn:bcpii:partition:NET%231.%23CPC.LP1",
		"@$.$@.L":           "urn:bcpii:partition:@$.$@.L",
	} {
		u := PartitionURI(mustTarget(t, in))
		if got := u.String(); got != want {
			t.Errorf("PartitionURI(%s) = %q, want %q", in, got, want)
		}
		// x509 parses URI names with url.Parse; the name must survive it.
		back, err := url.Parse(u.String())
		if err != nil || back.String() != want || back.Fragment != "" {
			t.Errorf("url.Parse(%q) = %#v, %v", want, back, err)
		}
	}
}

func FuzzPartitionURI(f *testing.F) {
	for _, s := range []string{
		"urn:bcpii:partition:IBM390PS.CPC1.LP1", "URN:BCPII:PARTITION:ibm390ps.cpc1.lp1",
		"urn:bcpii:partition:NET%231.CPC.LP1", "urn:bcpii:partition:NET#1.CPC.LP1",
		"urn:bcpii:partition:IBM390PS.CPC1", "urn:bcpii:partition:", "urn:bcpii:partition:%", "urn:bcpii:partitio",
		"urn:bcpii:partition:A.B.C%00", "spiffe://x/y", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePartitionURI(s)
		if err != nil {
			if !got.IsZero() {
				t.Fatalf("ParsePartitionURI(%q) = %v beside error %v", s, got, err)
			}
			return
		}
		if got.IsZero() || got.IsCPC() {
			t.Fatalf("ParsePartitionURI(%q) = %v, want a logical partition", s, got)
		}
		u := PartitionURI(got)
		again, err := ParsePartitionURI(u.String())
		if err != nil || again != got {
			t.Fatalf("PartitionURI(%v) = %q parses as %v, %v", got, u, again, err)
		}
		// The way through a certificate: url.String, then url.Parse.
		parsed, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", u, err)
		}
		if again, err := ParsePartitionURI(parsed.String()); err != nil || again != got {
			t.Fatalf("after url.Parse, %q parses as %v, %v", parsed, again, err)
		}
	})
}
