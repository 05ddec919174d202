package oci

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var (
	boundOnce sync.Once
	bound     map[string]bool
)

// BoundingSet returns the names ("CAP_SYS_ADMIN") of the capabilities in
// this process's bounding set, nil when it cannot be read.
func BoundingSet() map[string]bool {
	boundOnce.Do(func() {
		caps, err := capability.ListSupported()
		if err != nil {
			return
		}
		m := map[string]bool{}
		for _, c := range caps {
			if ok, err := capability.GetBound(c); err == nil && ok {
				m["CAP_"+strings.ToUpper(c.String())] = true
			}
		}
		bound = m
	})
	return bound
}

// RestrictCapabilities drops from p the capabilities outside allowed: no
// process can grant what its own bounding set lacks, and a privileged or
// "ALL" request would otherwise fail to start (a host whose bounding set
// lacks CAP_SYS_RESOURCE, say). containerd restricts "ALL" the same way.
func RestrictCapabilities(p *specs.Process, allowed map[string]bool) {
	if p == nil || p.Capabilities == nil || allowed == nil {
		return
	}
	keep := func(set []string) []string {
		return slices.DeleteFunc(set, func(c string) bool { return !allowed[c] })
	}
	c := p.Capabilities
	c.Bounding, c.Effective, c.Permitted = keep(c.Bounding), keep(c.Effective), keep(c.Permitted)
	c.Inheritable, c.Ambient = keep(c.Inheritable), keep(c.Ambient)
}

// HasCapSysResource reports whether this process has CAP_SYS_RESOURCE in
// its effective set (and so may lower a child's oom_score_adj).
func HasCapSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}
