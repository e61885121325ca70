package bcpii

import (
	"context"
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

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// authFixture is an Authenticator with real sessions: one live, one logged
// off and one expired.
type authFixture struct {
	auth                   *Authenticator
	live, loggedOff, stale string
	key                    *ecdsa.PrivateKey
}

func newAuthFixture(t testing.TB) *authFixture {
	t.Helper()
	u, err := ParseUsers([]byte(`{"users":[{"name":"alice","password-hash":"` + minHash(t, alicePassword) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.NewFake(start)
	s := NewSessionsIn(u, clk, time.Hour, nil)
	logon := func() string {
		ses, err := s.Logon(context.Background(), "alice", alicePassword)
		if err != nil {
			t.Fatal(err)
		}
		return ses.ID
	}
	f := &authFixture{stale: logon()}
	clk.Advance(2 * time.Hour)
	f.live, f.loggedOff = logon(), logon()
	if err := s.Logoff(context.Background(), f.loggedOff); err != nil {
		t.Fatal(err)
	}
	local, err := PartitionPrincipal(mustTarget(t, "IBM390PS.CPC1.LP3"))
	if err != nil {
		t.Fatal(err)
	}
	f.auth = &Authenticator{Local: local, Sessions: s}
	if f.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return f
}

// cert makes a self-signed certificate with the URI names uris, through
// the DER encoding and parsing a TLS handshake uses; ok is false when
// either refuses the names, as a TLS stack would refuse the certificate.
func (f *authFixture) cert(uris []string) (*x509.Certificate, bool) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fuzz"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			u = &url.URL{Scheme: "urn", Opaque: s}
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.key.PublicKey, f.key)
	if err != nil {
		return nil, false
	}
	c, err := x509.ParseCertificate(der)
	return c, err == nil
}

func TestAuthenticateRules(t *testing.T) {
	f := newAuthFixture(t)
	lp1 := mustTarget(t, "IBM390PS.CPC1.LP1")
	lp1Cert, _ := f.cert([]string{PartitionURI(lp1).String()})
	cpcCert, _ := f.cert([]string{PartitionURI(lp1.CPC()).String()})
	tests := []struct {
		name   string
		c      Credentials
		want   string // the principal's String; "" for an error
		reason int
	}{
		{name: "live session", c: Credentials{Session: f.live, SessionPresent: true}, want: "alice"},
		{name: "session wins over a certificate", c: Credentials{Session: f.live, SessionPresent: true, ClientCert: lp1Cert, Local: true}, want: "alice"},
		{name: "unknown session beside a certificate", c: Credentials{Session: "x", SessionPresent: true, ClientCert: lp1Cert}, reason: 5},
		{name: "empty session on a local connection", c: Credentials{SessionPresent: true, Local: true}, reason: 4},
		{name: "logged-off session", c: Credentials{Session: f.loggedOff, SessionPresent: true}, reason: 5},
		{name: "expired session", c: Credentials{Session: f.stale, SessionPresent: true}, reason: 5},
		{name: "certificate wins over local", c: Credentials{ClientCert: lp1Cert, Local: true}, want: "IBM390PS.CPC1.LP1"},
		{name: "CPC certificate", c: Credentials{ClientCert: cpcCert, Local: true}, reason: 4},
		{name: "local", c: Credentials{Local: true}, want: "IBM390PS.CPC1.LP3"},
		{name: "nothing", c: Credentials{}, reason: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := principalOf(f.auth.Authenticate(context.Background(), tt.c))
			if tt.want != "" {
				if err != nil || p.String() != tt.want {
					t.Fatalf("Authenticate = %v, %v; want %s", p, err, tt.want)
				}
				return
			}
			var e *hmcerr.Error
			if !errors.As(err, &e) || e.HTTPStatus != 403 || e.Reason != tt.reason || !p.IsZero() {
				t.Fatalf("Authenticate = %v, %v; want 403.%d", p, err, tt.reason)
			}
		})
	}
	// Without a local partition, a local connection is no one.
	none := &Authenticator{Sessions: f.auth.Sessions}
	if p, err := principalOf(none.Authenticate(context.Background(), Credentials{Local: true})); err == nil {
		t.Fatalf("Authenticate without Local = %v", p)
	}
}

// FuzzAuthenticate feeds the Authenticator random sessions, URI names in a
// real certificate and local flags. It never panics; every error is an
// *hmcerr.Error with status 403 and no principal; a partition comes only
// from a certificate (the one it names) or a local connection, never when
// a session was presented; a session is the API user's or an error.
func FuzzAuthenticate(f *testing.F) {
	lp1 := PartitionURI(mustTarget(f, "IBM390PS.CPC1.LP1")).String()
	for _, seed := range []struct {
		session     string
		sessionMode uint8
		uris        string
		certMode    uint8
		local       bool
	}{
		{"", 0, lp1, 1, false},
		{"", 0, lp1, 1, true},
		{"", 2, lp1, 1, true},
		{"x", 1, lp1, 1, true},
		{"", 1, "", 0, true},
		{"", 3, "", 0, false},
		{"", 4, "", 0, true},
		{"", 0, "urn:bcpii:partition:IBM390PS.CPC1", 1, false},
		{"", 0, lp1 + "\nurn:bcpii:partition:IBM390PS.CPC1.LP2", 1, false},
		{"", 0, "spiffe://example.org/lp1\n" + lp1, 1, false},
		{"", 0, "urn:bcpii:partition:NET%231.CPC.LP1", 1, false},
		{"", 0, "urn:bcpii:partition:NET#1.CPC.LP1", 1, false},
		{"", 0, "URN:BCPII:PARTITION:ibm390ps.cpc1.lp1", 1, false},
		{"", 0, "urn:bcpii:partition:%", 1, true},
		{"", 0, "urn:bcpii:partition:IBM390PS.CPC1.LP1\x00", 1, true},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1, "", 2, true},
		{"", 0, "", 1, false},
	} {
		f.Add(seed.session, seed.sessionMode, seed.uris, seed.certMode, seed.local)
	}
	fx := newAuthFixture(f)
	noLocal := &Authenticator{Sessions: fx.auth.Sessions}
	noUsers := &Authenticator{Local: fx.auth.Local}

	f.Fuzz(func(t *testing.T, session string, sessionMode uint8, uris string, certMode uint8, local bool) {
		var c Credentials
		switch sessionMode % 5 {
		case 1:
			c.Session, c.SessionPresent = session, true
		case 2:
			c.Session, c.SessionPresent = fx.live, true
		case 3:
			c.Session, c.SessionPresent = fx.loggedOff, true
		case 4:
			c.Session, c.SessionPresent = fx.stale, true
		}
		names := strings.Split(uris, "\n")
		// The other way a URI name is read: on its own.
		for _, s := range names {
			tn, err := ParsePartitionURI(s)
			if err != nil {
				if !tn.IsZero() {
					t.Fatalf("ParsePartitionURI(%q) = %v beside %v", s, tn, err)
				}
				continue
			}
			p, err := PartitionPrincipal(tn)
			if err != nil || !p.IsPartition() || p.Partition() != tn {
				t.Fatalf("ParsePartitionURI(%q) = %v, whose principal is %v, %v", s, tn, p, err)
			}
		}
		if certMode%3 == 1 {
			cert, ok := fx.cert(names)
			if !ok {
				return // no TLS stack would have verified it
			}
			c.ClientCert = cert
		}
		c.Local = local

		for _, a := range []*Authenticator{fx.auth, noLocal, noUsers} {
			p, err := principalOf(a.Authenticate(context.Background(), c))
			if err != nil {
				var e *hmcerr.Error
				if !errors.As(err, &e) || e.HTTPStatus != 403 || (e.Reason != 4 && e.Reason != 5) {
					t.Fatalf("Authenticate(%+v): error %v is not 403.4 or 403.5", c, err)
				}
				if !p.IsZero() {
					t.Fatalf("Authenticate(%+v) = %v beside %v", c, p, err)
				}
			} else if p.IsZero() {
				t.Fatalf("Authenticate(%+v) = no one, without an error", c)
			}

			switch {
			case c.SessionPresent:
				if p.IsPartition() {
					t.Fatalf("a request with a session is the partition %v", p)
				}
				liveSession := a.Sessions != nil && c.Session == fx.live
				if (err == nil) != liveSession || (err == nil && p.User() != "alice") {
					t.Fatalf("session %q (live %v): %v, %v", c.Session, liveSession, p, err)
				}
			case c.ClientCert != nil:
				named, certErr := PartitionFromCertificate(c.ClientCert)
				if (err == nil) != (certErr == nil) {
					t.Fatalf("certificate naming %v (%v): Authenticate = %v, %v", named, certErr, p, err)
				}
				if err == nil && (!p.IsPartition() || p.Partition() != named) {
					t.Fatalf("certificate naming %v gave %v", named, p)
				}
			case c.Local && !a.Local.IsZero():
				if err != nil || p != a.Local {
					t.Fatalf("a local connection is %v, %v; want %v", p, err, a.Local)
				}
			default:
				if err == nil {
					t.Fatalf("no session, certificate or local connection, yet %v", p)
				}
			}
		}
	})
}

// principalOf is the principal of an Authenticate answer.
func principalOf(id Identity, err error) (Principal, error) { return id.Principal, err }
