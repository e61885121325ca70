package upstream

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"

	"go.yaml.in/yaml/v3"
)

// DefaultPort is the HMC Web Services API's port, used when the URL names
// none.
const DefaultPort = "6794"

// DefaultNotificationPort is the HMC's STOMP notification port, used when
// Config.NotificationAddr is empty.
const DefaultNotificationPort = "61612"

// Defaults of the intervals.
const (
	DefaultPollInterval   = 5 * time.Second
	DefaultMaxBackoff     = time.Minute
	DefaultTargetRefresh  = 30 * time.Second
	DefaultRequestTimeout = 30 * time.Second
)

// Config configures a Client. The zero value of each optional field is its
// documented default.
type Config struct {
	// URL is the upstream's Web Services API, https://host[:port]; the port
	// is 6794 when absent. Required.
	URL string
	// CAFile is a PEM bundle of the CAs to verify the upstream's
	// certificate with; empty means the system roots, unless Fingerprint
	// is set.
	CAFile string
	// Fingerprint pins the upstream's certificate by the SHA-256 of its DER
	// bytes, in hex, with or without colons between the bytes. It replaces
	// the chain and host name checks unless CAFile is set too; then both
	// must pass.
	Fingerprint string
	// Credentials are the API user the client logs on as. Required.
	Credentials Credentials
	// Registry receives the local jobs. Required.
	Registry *jobs.Registry
	// Clock times the polling; nil means the system clock.
	Clock clock.Clock
	// PollInterval is how often a running job is queried; zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// NotificationAddr is the upstream's STOMP notification interface,
	// host:port; empty means the URL's host on port 61612, and "-" none.
	// Its certificate is checked as the Web Services API's is, for the
	// URL's host name.
	NotificationAddr string
	// NotifiedPollInterval is how often a running job is queried while
	// the client is subscribed to the upstream's job notifications, as a
	// safety net; zero means 12 times PollInterval, at least a minute. It
	// is never shorter than PollInterval.
	NotifiedPollInterval time.Duration
	// MaxBackoff caps the interval between queries while they fail; zero
	// means DefaultMaxBackoff (at least PollInterval).
	MaxBackoff time.Duration
	// TargetRefresh is how often at most the target names are fetched again
	// when a URI names an object not in the cache; zero means
	// DefaultTargetRefresh.
	TargetRefresh time.Duration
	// RequestTimeout bounds each request to the upstream; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// Claims, with replicas sharing a store, decides which replica follows
	// which job; nil means this process follows every job.
	Claims Claimer
}

// Validate reports every problem with c that can be seen without reading
// files.
func (c Config) Validate() error {
	var errs []error
	if _, err := ParseURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.Fingerprint != "" {
		if _, err := ParseFingerprint(c.Fingerprint); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Credentials.UserID == "" || c.Credentials.Password == "" {
		errs = append(errs, errors.New("upstream: a userid and a password are required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("upstream: Config.Registry is required"))
	}
	if c.NotificationAddr != "" && c.NotificationAddr != "-" {
		if _, _, err := net.SplitHostPort(c.NotificationAddr); err != nil {
			errs = append(errs, fmt.Errorf("upstream: notification address: %w", err))
		}
	}
	if c.PollInterval < 0 || c.NotifiedPollInterval < 0 || c.MaxBackoff < 0 || c.TargetRefresh < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("upstream: intervals must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.NotifiedPollInterval == 0 {
		c.NotifiedPollInterval = max(12*c.PollInterval, time.Minute)
	}
	c.NotifiedPollInterval = max(c.NotifiedPollInterval, c.PollInterval)
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	c.MaxBackoff = max(c.MaxBackoff, c.PollInterval)
	if c.TargetRefresh == 0 {
		c.TargetRefresh = DefaultTargetRefresh
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ParseURL checks the upstream's URL and returns its scheme and host:
// https only, a host, and nothing else (no user info, path, query or
// fragment). The port defaults to 6794.
func ParseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("upstream: the HMC URL is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("upstream: the HMC URL is malformed")
	}
	switch {
	case u.Scheme != "https":
		return nil, errors.New("upstream: the HMC URL must be https://host[:port]")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("upstream: the HMC URL names no host")
	case u.User != nil:
		return nil, errors.New("upstream: the HMC URL must not hold credentials")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return nil, errors.New("upstream: the HMC URL must not have a path, query or fragment")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), DefaultPort)
	}
	return &url.URL{Scheme: "https", Host: host}, nil
}

// ParseFingerprint reads a SHA-256 certificate fingerprint: 64 hex digits,
// upper or lower case, optionally with a colon between each pair (the form
// openssl and the gateway's own log show).
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	h := s
	if strings.Contains(s, ":") {
		if len(s) != 3*sha256.Size-1 {
			return fp, errors.New("upstream: the fingerprint is not a SHA-256 fingerprint")
		}
		var b strings.Builder
		for i := 0; i < len(s); i += 3 {
			if i+2 < len(s) && s[i+2] != ':' {
				return fp, errors.New("upstream: the fingerprint is not a SHA-256 fingerprint")
			}
			b.WriteString(s[i : i+2])
		}
		h = b.String()
	}
	if len(h) != 2*sha256.Size {
		return fp, errors.New("upstream: the fingerprint is not a SHA-256 fingerprint")
	}
	if _, err := hex.Decode(fp[:], []byte(h)); err != nil {
		return fp, errors.New("upstream: the fingerprint is not hexadecimal")
	}
	return fp, nil
}

// errPinMismatch is the handshake's failure when the upstream's certificate
// is not the pinned one.
var errPinMismatch = errors.New("upstream: the HMC's certificate does not match the pinned fingerprint")

// tlsConfig is the client's TLS configuration for serverName. Verification
// is never skipped: either the standard checks run (against caFile or the
// system roots), or the pin is checked in VerifyConnection, together with
// the chain when caFile is given.
func tlsConfig(serverName, caFile, fingerprint string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("upstream: CA file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream: CA file %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = roots
	}
	if fingerprint == "" {
		return tc, nil
	}
	pin, err := ParseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	// The standard verification would refuse a self-signed certificate
	// that only the pin vouches for, so it is replaced by VerifyConnection,
	// which runs on every handshake, resumed ones included.
	tc.InsecureSkipVerify = true
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("upstream: the HMC presented no certificate")
		}
		leaf := cs.PeerCertificates[0]
		sum := sha256.Sum256(leaf.Raw)
		if subtle.ConstantTimeCompare(sum[:], pin[:]) != 1 {
			return errPinMismatch
		}
		if roots == nil {
			return nil
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: serverName})
		return err
	}
	return tc, nil
}

// Credentials are the API user the client logs on as. Printing them, with
// fmt or slog, never shows the password.
type Credentials struct {
	UserID   string
	Password string
}

// String shows the userid and hides the password.
func (c Credentials) String() string {
	pw := ""
	if c.Password != "" {
		pw = "[redacted]"
	}
	return fmt.Sprintf("{userid:%q password:%s}", c.UserID, pw)
}

// GoString is String, so that %#v hides the password too.
func (c Credentials) GoString() string { return c.String() }

// LogValue hides the password from slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("userid", c.UserID))
}

// Limits of a credentials file.
const (
	maxCredentialsFile = 16 << 10
	maxCredentialValue = 1024
)

// LoadCredentials reads a credentials file; see ParseCredentials.
func LoadCredentials(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("upstream: credentials file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
	if err != nil {
		return Credentials{}, fmt.Errorf("upstream: credentials file: %w", err)
	}
	c, err := ParseCredentials(data)
	if err != nil {
		return Credentials{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials parses a credentials file: YAML, a mapping of userid
// and password, each once, to their values (quoted or not; a quoted value
// is its content, without the quotes). Files of the earlier format, a
// "userid:" line and a "password:" line whose values are the rest of the
// line taken verbatim, are still read the same when they are no YAML (a
// password with ": " in it, say); a plain value followed by " #", which
// YAML takes for a comment, is refused rather than cut short. A value must
// not be empty, longer than 1024 bytes or hold control characters. Errors
// name lines, never values.
func ParseCredentials(data []byte) (Credentials, error) {
	if len(data) > maxCredentialsFile {
		return Credentials{}, errors.New("credentials: the file is larger than 16 KiB")
	}
	if !utf8.Valid(data) {
		return Credentials{}, errors.New("credentials: the file is not UTF-8")
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return parseCredentialLines(data)
	}
	var c Credentials
	var seenUser, seenPassword bool
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		n := k.Line
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return Credentials{}, fmt.Errorf("credentials: line %d is not \"userid: ...\" or \"password: ...\"", n)
		}
		if v.Style == 0 && v.LineComment != "" {
			return Credentials{}, fmt.Errorf("credentials: line %d: the value is followed by \" #\", which YAML reads as a comment; quote the value", n)
		}
		if err := checkCredential(n, v.Value); err != nil {
			return Credentials{}, err
		}
		switch k.Value {
		case "userid":
			if seenUser {
				return Credentials{}, fmt.Errorf("credentials: line %d: userid is given twice", n)
			}
			seenUser, c.UserID = true, v.Value
		case "password":
			if seenPassword {
				return Credentials{}, fmt.Errorf("credentials: line %d: password is given twice", n)
			}
			seenPassword, c.Password = true, v.Value
		default:
			return Credentials{}, fmt.Errorf("credentials: line %d: the key is not userid or password", n)
		}
	}
	return c, credentialsComplete(seenUser, seenPassword)
}

// parseCredentialLines reads the earlier format: "userid:" and
// "password:" lines, values verbatim.
func parseCredentialLines(data []byte) (Credentials, error) {
	var c Credentials
	var seenUser, seenPassword bool
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		t := strings.TrimLeft(line, " \t")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		key, value, ok := strings.Cut(t, ":")
		if !ok {
			return Credentials{}, fmt.Errorf("credentials: line %d is not \"userid: ...\" or \"password: ...\"", n)
		}
		value = strings.Trim(value, " \t")
		if err := checkCredential(n, value); err != nil {
			return Credentials{}, err
		}
		switch strings.TrimRight(key, " \t") {
		case "userid":
			if seenUser {
				return Credentials{}, fmt.Errorf("credentials: line %d: userid is given twice", n)
			}
			seenUser, c.UserID = true, value
		case "password":
			if seenPassword {
				return Credentials{}, fmt.Errorf("credentials: line %d: password is given twice", n)
			}
			seenPassword, c.Password = true, value
		default:
			return Credentials{}, fmt.Errorf("credentials: line %d: the key is not userid or password", n)
		}
	}
	return c, credentialsComplete(seenUser, seenPassword)
}

func checkCredential(line int, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("credentials: line %d: the value is empty", line)
	case len(value) > maxCredentialValue:
		return fmt.Errorf("credentials: line %d: the value is longer than %d bytes", line, maxCredentialValue)
	case strings.ContainsFunc(value, isControl):
		return fmt.Errorf("credentials: line %d: the value holds a control character", line)
	case strings.Trim(value, " \t") != value:
		// The line format trims values; a quoted YAML value would keep the
		// blanks. Refused, so that the two formats never read one file
		// apart, and a stray blank is not sent as part of a password.
		return fmt.Errorf("credentials: line %d: the value begins or ends with a blank", line)
	}
	return nil
}

func credentialsComplete(seenUser, seenPassword bool) error {
	switch {
	case !seenUser:
		return errors.New("credentials: no userid line")
	case !seenPassword:
		return errors.New("credentials: no password line")
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
