package cgroups

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// HostResources fits a container's cgroup resources to what the host's
// cgroups offer, for both CreateContainer and UpdateContainerResources.
type HostResources struct {
	unified bool // cgroup v2: unified keys can be written
	hugetlb bool // a hugetlb controller exists
}

// NewHostResources probes what cg offers.
func NewHostResources(cg Manager) HostResources {
	return HostResources{unified: cg.Mode() == Unified, hugetlb: cg.HasController("hugetlb")}
}

// Fit refuses unified keys on a cgroup v1 host (InvalidArgument) and drops
// hugepage limits where no hugetlb controller exists: every runtime fails
// to start a container whose spec limits a controller the host lacks, and
// the kubelet sends a (zero) limit for every page size the kernel knows,
// hugetlb cgroup or not. CRI-O drops them the same way.
func (h HostResources) Fit(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if len(res.Unified) > 0 && !h.unified {
		return fmt.Errorf("unified resources need cgroup v2; the host uses cgroup v1 controllers: %w", errdefs.ErrInvalidArgument)
	}
	if !h.hugetlb {
		res.HugepageLimits = nil
	}
	return nil
}

// Hugetlb reports whether the host has a hugetlb controller (Fit drops
// hugepage limits otherwise).
func (h HostResources) Hugetlb() bool { return h.hugetlb }
