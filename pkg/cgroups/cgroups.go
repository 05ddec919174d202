// Package cgroups creates, limits, measures and removes the cgroups of pod
// sandboxes on cgroup v1 (legacy and hybrid hosts) and v2 (unified hosts),
// behind one Manager interface. Paths are given in the configured driver's
// form: a cgroupfs path ("/kubepods/burstable/pod<uid>/<id>") or a systemd
// "slice:prefix:name" triple, which is mapped to its cgroupfs location.
//
// The manager only makes directories and writes control files; it never
// moves or kills processes (the executor owns them) and removes only empty
// cgroups it is asked to remove.
package cgroups

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Mode is the cgroup layout of a host.
type Mode int

// The host layouts. Hybrid hosts have v1 controllers and a controller-less
// cgroup2 mount; the manager uses v1 there.
const (
	Legacy Mode = iota + 1
	Hybrid
	Unified
)

func (m Mode) String() string {
	switch m {
	case Legacy:
		return "legacy"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "unified"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Driver is how cgroup paths are named.
type Driver string

// The drivers, named as in the kubelet's cgroupDriver setting.
const (
	Cgroupfs Driver = "cgroupfs"
	Systemd  Driver = "systemd"
)

// DefaultMountInfo is where the host's mounts are read from.
const DefaultMountInfo = "/proc/self/mountinfo"

// Config configures a Manager.
type Config struct {
	// Driver names paths; empty means Cgroupfs.
	Driver Driver
	// MountInfo is the mountinfo file to detect the layout from; empty
	// means DefaultMountInfo. Tests point it at a fake tree.
	MountInfo string
}

// Manager manages pod cgroups.
type Manager interface {
	// Mode is the detected host layout.
	Mode() Mode
	// Create makes the cgroup (and missing parents) and applies res
	// (which may be nil).
	Create(path string, res *specs.LinuxResources) error
	// Apply writes the limits in res to an existing cgroup.
	Apply(path string, res *specs.LinuxResources) error
	// Stats reads usage counters and settings.
	Stats(path string) (*Stats, error)
	// Procs lists the IDs of the processes in the cgroup itself (not in
	// its descendants), in the caller's PID namespace.
	Procs(path string) ([]int, error)
	// Remove removes the cgroup and its descendants if they hold no
	// process, retrying briefly while the kernel still reports one busy;
	// a missing cgroup is success.
	Remove(ctx context.Context, path string) error
	// Kill SIGKILLs every process in the cgroup and its descendants and
	// waits until they are gone: what is left of a pod or container whose
	// monitor died.
	Kill(ctx context.Context, path string) error
	// Exists reports whether the cgroup exists.
	Exists(path string) bool
	// FSPath returns the cgroupfs path of a driver path.
	FSPath(path string) (string, error)
	// HasController reports whether the host offers a controller
	// ("hugetlb", "memory"): a v1 hierarchy mounts it, or the v2 root
	// lists it in cgroup.controllers.
	HasController(name string) bool
}

// New detects the host layout and returns its manager.
func New(cfg Config) (Manager, error) {
	if cfg.Driver == "" {
		cfg.Driver = Cgroupfs
	}
	if cfg.Driver != Cgroupfs && cfg.Driver != Systemd {
		return nil, fmt.Errorf("cgroup driver %q: %w", cfg.Driver, errdefs.ErrInvalidArgument)
	}
	if cfg.MountInfo == "" {
		cfg.MountInfo = DefaultMountInfo
	}
	mounts, err := ReadMounts(cfg.MountInfo)
	if err != nil {
		return nil, err
	}
	switch mounts.Mode() {
	case Unified:
		return &v2Manager{namer: namer(cfg.Driver), root: mounts.Unified}, nil
	case Legacy, Hybrid:
		return &v1Manager{namer: namer(cfg.Driver), mounts: mounts}, nil
	}
	return nil, fmt.Errorf("no cgroup filesystem mounted (per %s): %w", cfg.MountInfo, errdefs.ErrFailedPrecondition)
}

// namer converts driver paths to cgroupfs paths.
type namer Driver

// FSPath implements Manager.FSPath.
func (n namer) FSPath(p string) (string, error) {
	if Driver(n) == Systemd {
		return SystemdFSPath(p)
	}
	return CgroupfsPath(p)
}
