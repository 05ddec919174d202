// Package oci builds OCI runtime specs (github.com/opencontainers/runtime-spec)
// from CRI container and sandbox configs. Everything here is pure: builders
// take resolved inputs (paths, users, devices, profiles) and never touch the
// host, so that they can be table-tested and fuzzed. The few helpers that read
// the host (LoadSeccompProfile, ResolveDevice, HostDevices, ClampOOMScoreAdj)
// live in files named *_linux.go and are kept out of the builders.
package oci

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// SpecOpt changes a spec in place. An option that rejects its input returns
// an error wrapping errdefs.ErrInvalidArgument.
type SpecOpt func(*specs.Spec) error

// SpecVersion is the ociVersion written into specs. It is the oldest
// version whose features the builders use, not the newest the library
// knows: runtimes such as crun 1.8 reject versions newer than theirs.
// Specs with id-mapped mounts (a 1.2 feature) get specs.Version instead.
const SpecVersion = "1.1.0"

// New returns an empty Linux spec skeleton with opts applied in order.
func New(opts ...SpecOpt) (*specs.Spec, error) {
	s := &specs.Spec{
		Version: SpecVersion,
		Process: &specs.Process{Cwd: "/"},
		Root:    &specs.Root{},
		Linux:   &specs.Linux{Resources: &specs.LinuxResources{}},
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	for _, m := range s.Mounts {
		if len(m.UIDMappings)+len(m.GIDMappings) > 0 {
			s.Version = specs.Version
		}
	}
	return s, nil
}

// invalid returns an error wrapping errdefs.ErrInvalidArgument.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// DefaultMaskedPaths are the paths masked in a non-privileged container when
// the CRI config asks for none, as containerd does.
var DefaultMaskedPaths = []string{
	"/proc/acpi",
	"/proc/asound",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
}

// DefaultReadonlyPaths are the paths made read-only in a non-privileged
// container when the CRI config asks for none.
var DefaultReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// DefaultMounts returns the mounts every container gets: proc, a tmpfs /dev
// with devpts, shm and mqueue, a read-only sysfs and a read-only cgroupfs.
// A fresh slice is returned each time so callers may edit it.
func DefaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// DefaultPath is the PATH a container gets when neither the image nor the
// CRI config sets one.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// WithDefaults fills a skeleton with the defaults of a non-privileged
// container: default mounts, masked and read-only paths, default
// capabilities, a PATH and a device cgroup that denies everything not
// explicitly allowed (the executor adds the standard /dev/null and friends).
func WithDefaults() SpecOpt {
	return func(s *specs.Spec) error {
		s.Mounts = DefaultMounts()
		s.Linux.MaskedPaths = append([]string(nil), DefaultMaskedPaths...)
		s.Linux.ReadonlyPaths = append([]string(nil), DefaultReadonlyPaths...)
		s.Process.Capabilities = capsOf(DefaultCapabilities())
		s.Process.Env = []string{DefaultPath}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		return nil
	}
}

// WithRootfs sets the root filesystem path and whether it is read-only.
func WithRootfs(path string, readonly bool) SpecOpt {
	return func(s *specs.Spec) error {
		if path == "" {
			return invalid("empty rootfs path")
		}
		s.Root.Path = path
		s.Root.Readonly = readonly
		return nil
	}
}

// WithCgroupsPath sets linux.cgroupsPath (a cgroupfs path or a systemd
// "slice:prefix:name" triple, as the executor's driver expects).
func WithCgroupsPath(p string) SpecOpt {
	return func(s *specs.Spec) error {
		s.Linux.CgroupsPath = p
		return nil
	}
}

// WithAnnotations merges annotations into the spec.
func WithAnnotations(a map[string]string) SpecOpt {
	return func(s *specs.Spec) error {
		if len(a) == 0 {
			return nil
		}
		if s.Annotations == nil {
			s.Annotations = make(map[string]string, len(a))
		}
		for k, v := range a {
			s.Annotations[k] = v
		}
		return nil
	}
}
