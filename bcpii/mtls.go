package bcpii

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// partitionURIPrefix begins the URI name that gives a client certificate's
// partition; the package doc describes the field.
const partitionURIPrefix = "urn:bcpii:partition:"

// ErrNoPartition is wrapped by every error of PartitionFromCertificate, so
// the transport can tell a certificate that names no usable partition from
// other failures.
var ErrNoPartition = errors.New("bcpii: client certificate does not name exactly one logical partition")

// PartitionFromCertificate returns the logical partition that cert names in
// its urn:bcpii:partition: URI name. It reads the name only: the TLS stack
// must already have verified cert against the partitions' CA, since anyone
// can write any name into a certificate of their own.
func PartitionFromCertificate(cert *x509.Certificate) (TargetName, error) {
	if cert == nil {
		return TargetName{}, fmt.Errorf("%w: there is no client certificate", ErrNoPartition)
	}
	var (
		found TargetName
		err   error
		n     int
	)
	for _, u := range cert.URIs {
		s := u.String()
		if !hasPartitionPrefix(s) {
			continue
		}
		n++
		found, err = ParsePartitionURI(s)
	}
	switch {
	case n == 0:
		return TargetName{}, fmt.Errorf("%w: it has no %s URI name", ErrNoPartition, partitionURIPrefix)
	case n > 1:
		// Two names may both be well formed; picking one would let the
		// order of names in the certificate decide who is asking.
		return TargetName{}, fmt.Errorf("%w: it has %d %s URI names", ErrNoPartition, n, partitionURIPrefix)
	case err != nil:
		return TargetName{}, fmt.Errorf("%w: %w", ErrNoPartition, err)
	}
	return found, nil
}

// ParsePartitionURI parses the string form of a partition URI name, such as
// urn:bcpii:partition:IBM390PS.CPC1.LP1. The target name must name a
// logical partition, and the name must be spelt exactly as PartitionURI
// spells it: the prefix in lower case, the target name in upper case, no
// %-escape but %23 for '#'. Each partition has one spelling, so that a
// certificate authority's records, revocation lists and audit logs name a
// partition one way only.
func ParsePartitionURI(s string) (TargetName, error) {
	if !hasPartitionPrefix(s) {
		return TargetName{}, fmt.Errorf("URI name %s does not begin with %s", quote(s), partitionURIPrefix)
	}
	name, err := url.PathUnescape(s[len(partitionURIPrefix):])
	if err != nil {
		return TargetName{}, fmt.Errorf("URI name %s has a malformed %%-escape", quote(s))
	}
	t, err := ParseTargetName(name)
	if err != nil {
		return TargetName{}, fmt.Errorf("URI name %s: %w", quote(s), err)
	}
	if t.IsCPC() {
		return TargetName{}, fmt.Errorf("URI name %s names the CPC %s, not a logical partition", quote(s), t)
	}
	if canonical := PartitionURI(t).String(); s != canonical {
		return TargetName{}, fmt.Errorf("URI name %s is not spelt as %s, the one spelling of the partition", quote(s), canonical)
	}
	return t, nil
}

func hasPartitionPrefix(s string) bool {
	return len(s) >= len(partitionURIPrefix) && strings.EqualFold(s[:len(partitionURIPrefix)], partitionURIPrefix)
}

// PartitionURI returns the URI name that names t in a client certificate,
// for x509.Certificate.URIs. A '#' in the name is escaped so that it does
// not begin a fragment. PartitionFromCertificate refuses the URI of a CPC,
// which cannot make requests; tests use that to build bad certificates.
func PartitionURI(t TargetName) *url.URL {
	return &url.URL{
		Scheme: "urn",
		Opaque: strings.TrimPrefix(partitionURIPrefix, "urn:") + strings.ReplaceAll(t.String(), "#", "%23"),
	}
}
