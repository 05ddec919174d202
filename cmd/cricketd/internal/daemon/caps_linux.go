package daemon

import (
	"slices"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	boundOnce sync.Once
	bound     map[string]bool
)

// boundingSet returns the names ("CAP_SYS_ADMIN") of the capabilities in
// this process's bounding set, nil when it cannot be read.
func boundingSet() map[string]bool {
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

// restrictCapabilities drops from p the capabilities outside allowed: no
// process can grant what its own bounding set lacks, and a privileged or
// "ALL" request would otherwise fail to start (this VM has no
// CAP_SYS_RESOURCE). containerd restricts "ALL" the same way.
func restrictCapabilities(p *specs.Process, allowed map[string]bool) {
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
