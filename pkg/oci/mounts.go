package oci

import (
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/podfiles"
)

// Features are the runtime handler features that change what is accepted.
type Features struct {
	RecursiveReadOnlyMounts bool
	UserNamespaces          bool
}

// propagationOption maps a CRI propagation to the recursive mount option.
func propagationOption(p runtimeapi.MountPropagation) (string, error) {
	switch p {
	case runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
		return "rprivate", nil
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		return "rslave", nil
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		return "rshared", nil
	}
	return "", invalid("unknown mount propagation %d", p)
}

// CRIMount converts one CRI mount to a bind mount. source is the host path
// to mount: the request's host_path, or for an image volume the resolved
// path of the image's rootfs (plus image_sub_path). SELinux relabelling
// (selinux_relabel) is done on the host before the spec is built
// (sandbox/container.HostSpecs).
func CRIMount(m *runtimeapi.Mount, source string, f Features) (specs.Mount, error) {
	dst := m.GetContainerPath()
	if !path.IsAbs(dst) || strings.IndexByte(dst, 0) >= 0 {
		return specs.Mount{}, invalid("mount container path %q is not an absolute path", dst)
	}
	if !path.IsAbs(source) || strings.IndexByte(source, 0) >= 0 {
		return specs.Mount{}, invalid("mount source %q for %s is not an absolute path", source, dst)
	}
	prop, err := propagationOption(m.GetPropagation())
	if err != nil {
		return specs.Mount{}, err
	}
	ro, err := readonlyOption(m, f)
	if err != nil {
		return specs.Mount{}, err
	}
	if err := checkMountOptions(m); err != nil {
		return specs.Mount{}, err
	}
	opts := append([]string{"rbind", prop, ro}, m.GetMountOptions()...)
	out := specs.Mount{Destination: path.Clean(dst), Type: "bind", Source: source, Options: opts}
	if len(m.GetUidMappings()) > 0 || len(m.GetGidMappings()) > 0 {
		if !f.UserNamespaces {
			return specs.Mount{}, invalid("mount %s has id mappings but the runtime handler does not support user namespaces", dst)
		}
		out.UIDMappings = idMappings(m.GetUidMappings())
		out.GIDMappings = idMappings(m.GetGidMappings())
	}
	return out, nil
}

// allowedMountOptions are the mount_options a CRI mount may add: the CRI
// names noexec, nodev and nosuid. Anything else could undo what the other
// fields ask for ("rw" on a read-only mount, "shared" on a private one).
var allowedMountOptions = map[string]bool{"noexec": true, "nodev": true, "nosuid": true}

func checkMountOptions(m *runtimeapi.Mount) error {
	for _, o := range m.GetMountOptions() {
		if !allowedMountOptions[o] {
			return invalid("mount %s: mount option %q is not one of noexec, nodev, nosuid", m.GetContainerPath(), o)
		}
	}
	return nil
}

// readonlyOption returns "rro", "ro" or "rw". Recursive read-only needs a
// read-only, private mount and a handler that supports it, as the CRI says.
func readonlyOption(m *runtimeapi.Mount, f Features) (string, error) {
	if !m.GetRecursiveReadOnly() {
		if m.GetReadonly() {
			return "ro", nil
		}
		return "rw", nil
	}
	switch {
	case !m.GetReadonly():
		return "", invalid("mount %s: recursive_read_only requires readonly", m.GetContainerPath())
	case m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
		return "", invalid("mount %s: recursive_read_only requires private propagation", m.GetContainerPath())
	case !f.RecursiveReadOnlyMounts:
		return "", invalid("mount %s: recursive_read_only is not supported by the runtime handler", m.GetContainerPath())
	}
	return "rro", nil
}

func idMappings(in []*runtimeapi.IDMapping) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, 0, len(in))
	for _, m := range in {
		out = append(out, specs.LinuxIDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()})
	}
	return out
}

// WithMounts adds user mounts. A user mount replaces a default mount with
// the same destination, and a user /dev replaces every default mount under
// /dev; the result is sorted so that a parent is mounted before its
// children.
func WithMounts(user []specs.Mount) SpecOpt {
	return func(s *specs.Spec) error {
		taken := make(map[string]bool, len(user))
		for _, m := range user {
			if taken[m.Destination] {
				return invalid("duplicate mount destination %s", m.Destination)
			}
			taken[m.Destination] = true
		}
		kept := slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool {
			return taken[path.Clean(m.Destination)] || (taken["/dev"] && strings.HasPrefix(m.Destination, "/dev/"))
		})
		s.Mounts = append(kept, user...)
		sortMounts(s.Mounts)
		return nil
	}
}

// sortMounts orders mounts by depth of destination, keeping the relative
// order of mounts at the same depth (the kubelet's order).
func sortMounts(ms []specs.Mount) {
	slices.SortStableFunc(ms, func(a, b specs.Mount) int {
		return depth(a.Destination) - depth(b.Destination)
	})
}

func depth(p string) int {
	p = path.Clean(p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// PodFileMounts returns the bind mounts of the pod's files. The /etc files
// are read-only when the container's rootfs is, as in containerd.
func PodFileMounts(f podfiles.Paths, readonlyRootfs bool) []specs.Mount {
	ro := "rw"
	if readonlyRootfs {
		ro = "ro"
	}
	var out []specs.Mount
	add := func(src, dst, mode string) {
		if src != "" {
			out = append(out, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", mode}})
		}
	}
	add(f.Hostname, "/etc/hostname", ro)
	add(f.Hosts, "/etc/hosts", ro)
	add(f.ResolvConf, "/etc/resolv.conf", ro)
	add(f.Shm, "/dev/shm", "rw")
	return out
}

// freePodFileMounts are the pod file mounts whose destination no user
// mount takes: the kubelet mounts its own /etc/hosts for most pods.
func freePodFileMounts(user, pod []specs.Mount) []specs.Mount {
	var out []specs.Mount
	for _, p := range pod {
		if !slices.ContainsFunc(user, func(u specs.Mount) bool { return u.Destination == p.Destination }) {
			out = append(out, p)
		}
	}
	return out
}

// SetRootfsPropagation makes the container's root shared when a mount is
// bidirectional, and a slave when one receives the host's mounts: a mount
// propagates only as far as the mounts above it let it (containerd does
// the same).
func SetRootfsPropagation(spec *specs.Spec) {
	if spec.Linux == nil {
		return
	}
	for _, m := range spec.Mounts {
		switch {
		case slices.Contains(m.Options, "rshared"):
			spec.Linux.RootfsPropagation = "rshared"
			return
		case slices.Contains(m.Options, "rslave"):
			spec.Linux.RootfsPropagation = "rslave"
		}
	}
}
