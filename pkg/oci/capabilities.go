package oci

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// AllCapabilities lists every capability the kernel defines, in the
// kernel's numbering (index i is capability number i), up to
// CAP_CHECKPOINT_RESTORE. A runtime cannot grant one outside its own
// bounding set, so "ALL" and privileged use the daemon's set
// (CurrentCapabilities) when the caller provides it.
var AllCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// DefaultCapabilities returns the capability set of a non-privileged
// container, the same as containerd's and Docker's default.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}

// capsOf puts one capability list into the bounding, effective and
// permitted sets (no inheritable: containerd 2 and Docker dropped it, see
// CVE-2022-24769).
func capsOf(c []string) *specs.LinuxCapabilities {
	return &specs.LinuxCapabilities{
		Bounding:  slices.Clone(c),
		Effective: slices.Clone(c),
		Permitted: slices.Clone(c),
	}
}

// NormalizeCapability turns "net_admin" or "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN" and rejects names the kernel does not define.
func NormalizeCapability(c string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(c))
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(AllCapabilities, n) {
		return "", invalid("unknown capability %q", c)
	}
	return n, nil
}

func isAll(c string) bool { return strings.EqualFold(strings.TrimSpace(c), "ALL") }

// WithCapabilities applies CRI add, drop and ambient capabilities to the
// current set. "ALL" in add starts from all (nil means AllCapabilities) and
// "ALL" in drop from none, before the individual names apply, so add ALL +
// drop CHOWN is everything but CAP_CHOWN (containerd's rule). Ambient
// capabilities are also raised in the inheritable, permitted, effective and
// bounding sets, without which the kernel ignores them.
func WithCapabilities(c *runtimeapi.Capability, all []string) SpecOpt {
	return func(s *specs.Spec) error {
		if c == nil {
			return nil
		}
		if all == nil {
			all = AllCapabilities
		}
		set := s.Process.Capabilities.Bounding
		if slices.ContainsFunc(c.GetAddCapabilities(), isAll) {
			set = slices.Clone(all)
		}
		if slices.ContainsFunc(c.GetDropCapabilities(), isAll) {
			set = nil
		}
		set, err := applyCaps(set, c.GetAddCapabilities(), addCap)
		if err != nil {
			return err
		}
		if set, err = applyCaps(set, c.GetDropCapabilities(), dropCap); err != nil {
			return err
		}
		s.Process.Capabilities = capsOf(set)
		return withAmbient(s.Process.Capabilities, c.GetAddAmbientCapabilities(), all)
	}
}

func addCap(set []string, c string) []string {
	if slices.Contains(set, c) {
		return set
	}
	return append(set, c)
}

func dropCap(set []string, c string) []string {
	return slices.DeleteFunc(set, func(x string) bool { return x == c })
}

func applyCaps(set, names []string, op func([]string, string) []string) ([]string, error) {
	for _, name := range names {
		if isAll(name) {
			continue
		}
		n, err := NormalizeCapability(name)
		if err != nil {
			return nil, err
		}
		set = op(set, n)
	}
	return set, nil
}

func withAmbient(caps *specs.LinuxCapabilities, names, all []string) error {
	for _, name := range names {
		var list []string
		if isAll(name) {
			list = all
		} else {
			n, err := NormalizeCapability(name)
			if err != nil {
				return err
			}
			list = []string{n}
		}
		for _, n := range list {
			caps.Ambient = addCap(caps.Ambient, n)
			caps.Inheritable = addCap(caps.Inheritable, n)
			caps.Permitted = addCap(caps.Permitted, n)
			caps.Effective = addCap(caps.Effective, n)
			caps.Bounding = addCap(caps.Bounding, n)
		}
	}
	return nil
}
