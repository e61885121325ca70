package bcpii

import (
	"fmt"
	"regexp"
)

// The API version the gateway serves and the logon answer reports: that of
// HMC 2.16.0 at its last API level (GA 1.5), whose operations the gateway
// offers, Submit Requests and the permitted-object lists among them.
const (
	APIMajorVersion = 4
	APIMinorVersion = 10
)

// DefaultHMCVersion is the hmc-version of Query API Version when the
// backend names none: the HMC whose API level the gateway serves.
const DefaultHMCVersion = "2.16.0"

// DefaultHMCName is the hmc-name of Query API Version when the backend
// names none.
const DefaultHMCName = "bcpii-gateway"

// ConsoleVersion is what Query API Version answers: the console the
// gateway stands for, never the gateway's own build.
type ConsoleVersion struct {
	// Name is hmc-name, 1 to 16 characters.
	Name string
	// Version is hmc-version, "v.r.m", each part one or two digits, as
	// IBM's tools parse it into numbers.
	Version string
	// APIMajor and APIMinor are api-major-version and api-minor-version.
	APIMajor, APIMinor int
}

// DefaultConsoleVersion is the answer of a backend that names no console
// of its own.
func DefaultConsoleVersion() ConsoleVersion {
	return ConsoleVersion{Name: DefaultHMCName, Version: DefaultHMCVersion, APIMajor: APIMajorVersion, APIMinor: APIMinorVersion}
}

var hmcVersionRE = regexp.MustCompile(`^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}$`)

// ValidHMCVersion reports whether v has the form of an hmc-version.
func ValidHMCVersion(v string) bool { return hmcVersionRE.MatchString(v) }

// Validate reports what makes v an answer no HMC gives.
func (v ConsoleVersion) Validate() error {
	switch {
	case len(v.Name) < 1 || len(v.Name) > 16:
		return fmt.Errorf("hmc-name %q must have 1 to 16 characters", v.Name)
	case !ValidHMCVersion(v.Version):
		return fmt.Errorf("hmc-version %q is not of the form v.r.m (e.g. %s)", v.Version, DefaultHMCVersion)
	case v.APIMajor < 1 || v.APIMinor < 0:
		return fmt.Errorf("API version %d.%d is not valid", v.APIMajor, v.APIMinor)
	}
	return nil
}
