package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// tlsRefused reports whether err is the TLS handshake's refusal of the
// upstream's certificate (or of the connection), not a network failure.
func tlsRefused(err error) bool {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
		alert   tls.AlertError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) ||
		errors.As(err, &invalid) || errors.As(err, &record) || errors.As(err, &alert) ||
		errors.Is(err, errPinMismatch)
}

// Ping asks the upstream for its API version, which needs no session:
// nil when it answers 2xx, for the gateway's readiness.
func (c *Client) Ping(ctx context.Context) error {
	r, err := c.send(ctx, kindPing, http.MethodGet, "/api/version", nil, "")
	if err != nil {
		return err
	}
	if !r.ok() {
		return fmt.Errorf("upstream: GET /api/version answered %d", r.status)
	}
	return nil
}

// ConsoleVersion is the upstream HMC's Query API Version answer, as it
// gives it: callers of the gateway see the HMC they reach.
func (c *Client) ConsoleVersion(ctx context.Context) (bcpii.ConsoleVersion, error) {
	r, err := c.send(ctx, kindPing, http.MethodGet, "/api/version", nil, "")
	if err != nil {
		return bcpii.ConsoleVersion{}, hmcerr.ErrUnavailable.WithCause(err)
	}
	if !r.ok() {
		return bcpii.ConsoleVersion{}, backendError(r)
	}
	var v struct {
		Name     string `json:"hmc-name"`
		Version  string `json:"hmc-version"`
		APIMajor int    `json:"api-major-version"`
		APIMinor int    `json:"api-minor-version"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		return bcpii.ConsoleVersion{}, hmcerr.ErrUnavailable.WithCause(fmt.Errorf("upstream: GET /api/version answered %q: %w", r.body, err))
	}
	return bcpii.ConsoleVersion{Name: v.Name, Version: v.Version, APIMajor: v.APIMajor, APIMinor: v.APIMinor}, nil
}
