// Package bcpii is the BCPii side of the gateway without its transports:
// target names, the principals that own jobs (a requesting partition or an
// API user), the X-API-Target-Name rule for jobs started over BCPii, the
// partition identity carried by a client certificate, and the API users and
// sessions of the web-services interface. It imports neither gRPC nor
// net/http, so the rules here are the same whichever transport asks.
//
// # Partition identity in client certificates
//
// The requesting partition is never taken from a header the caller can set.
// On an mTLS connection it comes from the client certificate, which names
// its partition in exactly one URI subject alternative name:
//
//	urn:bcpii:partition:NETID.NAU.LPARNAME
//
// for example urn:bcpii:partition:IBM390PS.CPC1.LP1. The target name is
// compared case-insensitively and must name a logical partition, not a CPC.
// Because '#' begins a URI fragment, a '#' in the target name is written
// %23 (PartitionURI does so); a literal '#' is accepted too, since
// certificate tools often write the name unescaped. Other URI names in the
// certificate (a SPIFFE id, say) are ignored, but a certificate with two
// partition names is refused rather than guessed at.
package bcpii
