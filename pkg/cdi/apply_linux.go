package cdi

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Apply makes the edits to spec: environment variables replace those of
// the same name, device nodes are created and allowed in the device cgroup
// (their type and numbers read from the host node when the spec leaves them
// out), mounts replace those of the same destination, hooks are appended
// and additional GIDs added. A device node missing on the host is an
// InvalidArgument error.
func (e *ContainerEdits) Apply(spec *specs.Spec) error {
	if spec.Process == nil || spec.Linux == nil {
		return fmt.Errorf("apply CDI edits: spec has no process or linux section: %w", errdefs.ErrInvalidArgument)
	}
	for _, v := range e.Env {
		spec.Process.Env = setEnv(spec.Process.Env, v)
	}
	for _, d := range e.DeviceNodes {
		if err := addDevice(spec, d); err != nil {
			return err
		}
	}
	for _, m := range e.Mounts {
		addMount(spec, m)
	}
	for _, h := range e.Hooks {
		addHook(spec, h)
	}
	for _, g := range e.AdditionalGIDs {
		if !slices.Contains(spec.Process.User.AdditionalGids, g) {
			spec.Process.User.AdditionalGids = append(spec.Process.User.AdditionalGids, g)
		}
	}
	return nil
}

func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	out := slices.DeleteFunc(env, func(x string) bool { return strings.HasPrefix(x, k+"=") })
	return append(out, kv)
}

func addDevice(spec *specs.Spec, d DeviceNode) error {
	host := d.HostPath
	if host == "" {
		host = d.Path
	}
	dev := specs.LinuxDevice{Path: path.Clean(d.Path), Type: d.Type, Major: d.Major, Minor: d.Minor, UID: d.UID, GID: d.GID}
	if dev.Type == "u" {
		dev.Type = "c"
	}
	if d.FileMode != nil {
		m := os.FileMode(*d.FileMode)
		dev.FileMode = &m
	}
	if dev.Type == "" || (dev.Type != "p" && dev.Major == 0 && dev.Minor == 0) {
		if err := fillFromHost(&dev, host); err != nil {
			return err
		}
	}
	perms := d.Permissions
	if perms == "" {
		perms = "rwm"
	}
	spec.Linux.Devices = slices.DeleteFunc(spec.Linux.Devices, func(x specs.LinuxDevice) bool { return x.Path == dev.Path })
	spec.Linux.Devices = append(spec.Linux.Devices, dev)
	if dev.Type == "p" {
		return nil // a fifo needs no device cgroup rule
	}
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	major, minor := dev.Major, dev.Minor
	spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
		Allow: true, Type: dev.Type, Major: &major, Minor: &minor, Access: perms,
	})
	return nil
}

// fillFromHost takes what the spec leaves out of a device node from the
// host's node.
func fillFromHost(dev *specs.LinuxDevice, host string) error {
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return fmt.Errorf("CDI device node %s: stat %s: %w: %w", dev.Path, host, err, errdefs.ErrInvalidArgument)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		dev.Type = "c"
	case unix.S_IFBLK:
		dev.Type = "b"
	case unix.S_IFIFO:
		dev.Type = "p"
	default:
		return fmt.Errorf("CDI device node %s: host path %s is not a device: %w", dev.Path, host, errdefs.ErrInvalidArgument)
	}
	dev.Major, dev.Minor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	if dev.FileMode == nil {
		m := os.FileMode(st.Mode &^ unix.S_IFMT)
		dev.FileMode = &m
	}
	if dev.UID == nil {
		dev.UID = &st.Uid
	}
	if dev.GID == nil {
		dev.GID = &st.Gid
	}
	return nil
}

func addMount(spec *specs.Spec, m Mount) {
	typ, opts := m.Type, slices.Clone(m.Options)
	if typ == "" {
		typ = "bind"
	}
	if typ == "bind" && !slices.Contains(opts, "bind") && !slices.Contains(opts, "rbind") {
		opts = append([]string{"rbind"}, opts...)
	}
	dst := path.Clean(m.ContainerPath)
	spec.Mounts = slices.DeleteFunc(spec.Mounts, func(x specs.Mount) bool { return path.Clean(x.Destination) == dst })
	spec.Mounts = append(spec.Mounts, specs.Mount{Source: m.HostPath, Destination: dst, Type: typ, Options: opts})
	// Parents before children, keeping the order of mounts at one depth.
	slices.SortStableFunc(spec.Mounts, func(a, b specs.Mount) int { return depth(a.Destination) - depth(b.Destination) })
}

func depth(p string) int {
	p = path.Clean(p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

func addHook(spec *specs.Spec, h Hook) {
	if spec.Hooks == nil {
		spec.Hooks = &specs.Hooks{}
	}
	hook := specs.Hook{Path: h.Path, Args: h.Args, Env: h.Env, Timeout: h.Timeout}
	switch h.HookName {
	case "prestart":
		spec.Hooks.Prestart = append(spec.Hooks.Prestart, hook) //nolint:staticcheck // CDI still names it
	case "createRuntime":
		spec.Hooks.CreateRuntime = append(spec.Hooks.CreateRuntime, hook)
	case "createContainer":
		spec.Hooks.CreateContainer = append(spec.Hooks.CreateContainer, hook)
	case "startContainer":
		spec.Hooks.StartContainer = append(spec.Hooks.StartContainer, hook)
	case "poststart":
		spec.Hooks.Poststart = append(spec.Hooks.Poststart, hook)
	case "poststop":
		spec.Hooks.Poststop = append(spec.Hooks.Poststop, hook)
	}
}
