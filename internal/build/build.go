// Package build carries the version, commit and build date stamped into the
// binary with -ldflags -X, with fallbacks from the Go build info.
package build

import (
	"runtime/debug"
	"time"
)

// DateFormat is the layout of Date, as in the API's /v1/version example
// ("2026-01-15_12:00:00").
const DateFormat = "2006-01-02_15:04:05"

// Set with -ldflags "-X github.com/ecapi/ecapi/internal/build.Version=…".
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info is the resolved build information.
type Info struct {
	Version string
	Commit  string
	Date    string
}

// Get returns the build information, filling what ldflags left empty from
// the module and VCS data the Go toolchain embeds.
func Get() Info {
	info := Info{Version: Version, Commit: Commit, Date: Date}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" && len(s.Value) >= 7 {
					info.Commit = s.Value[:7]
				}
			case "vcs.time":
				if info.Date == "" {
					if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
						info.Date = t.UTC().Format(DateFormat)
					}
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}
