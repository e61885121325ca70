// Package version tells which build of bcpii-gateway is running: the
// module version, the commit and its time, as the Go toolchain recorded them
// in the binary (runtime/debug.ReadBuildInfo). It depends on nothing of the
// gateway's own, so that the gateway and its clients report alike.
package version

import (
	"runtime/debug"
	"strings"
)

// Info is what a build says of itself. Empty fields were not recorded
// (a build outside version control, or a test binary).
type Info struct {
	// Version is the module version, e.g. v1.2.3, or "devel" for a build
	// from a work tree.
	Version string
	// Commit is the VCS revision, Time its commit time (RFC 3339), and
	// Modified says the work tree had uncommitted changes.
	Commit, Time string
	Modified     bool
	// Go is the toolchain that built it.
	Go string
}

// Get reads the running binary's build information.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "devel"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one line a --version flag prints: the version, then the
// commit (12 hex digits, "+dirty" if modified) and its time where known.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		b.WriteString(" (commit " + c)
		if i.Modified {
			b.WriteString("+dirty")
		}
		if i.Time != "" {
			b.WriteString(", " + i.Time)
		}
		b.WriteString(")")
	}
	if i.Go != "" {
		b.WriteString(" " + i.Go)
	}
	return b.String()
}
