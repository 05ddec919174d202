package main

import (
	"runtime/debug"
)

// buildVersion may be set with -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion = ""

// version returns the daemon's version: the linker-provided one, else the
// module version from the build info, plus the VCS revision when known.
func version() string {
	v := buildVersion
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = info.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "v0.0.0-dev"
	}
	if !ok {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += "+" + rev + dirty
	}
	return v
}
