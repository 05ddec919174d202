package cgroups

import (
	"fmt"
	"path"
	"strings"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Defaults for pods created without a cgroup_parent (crictl does that).
const (
	DefaultCgroupfsParent = "/cricket"
	DefaultSystemdParent  = "cricket.slice"
	// SystemdScopePrefix names the scopes Cricket's cgroups live in.
	SystemdScopePrefix = "cricket"
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// CgroupfsPath cleans a cgroupfs path and makes it absolute; ".." may not
// climb out of the hierarchy's root.
func CgroupfsPath(p string) (string, error) {
	if p == "" || strings.ContainsRune(p, 0) || strings.Contains(p, ":") {
		return "", invalid("cgroupfs path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", invalid("cgroupfs path %q contains ..", p)
		}
	}
	return path.Join("/", p), nil
}

// ChildPath returns the driver path of a child cgroup called name under a
// pod's cgroup_parent: parent/name for cgroupfs, "parent:cricket:name" for
// systemd, whose parent must be a slice.
func ChildPath(d Driver, parent, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/:\x00") || name == "." || name == ".." {
		return "", invalid("cgroup name %q", name)
	}
	if d == Systemd {
		slice, err := systemdParentSlice(parent)
		if err != nil {
			return "", err
		}
		return slice + ":" + SystemdScopePrefix + ":" + name, nil
	}
	if parent == "" {
		parent = DefaultCgroupfsParent
	}
	parent, err := CgroupfsPath(parent)
	if err != nil {
		return "", err
	}
	return path.Join(parent, name), nil
}

// systemdParentSlice is the slice a systemd cgroup_parent names: a slice
// name ("kubepods-pod1.slice"), or the cgroupfs path of one, as the
// kubelet's systemd driver sends it
// ("/kubepods.slice/kubepods-pod1.slice", from cgroupName.ToSystemd()),
// whose last element is the slice (containerd and CRI-O take it the same
// way); the path must be where that slice lives.
func systemdParentSlice(parent string) (string, error) {
	if parent == "" {
		return DefaultSystemdParent, nil
	}
	slice := parent
	if strings.Contains(parent, "/") {
		slice = path.Base(parent)
		if want, err := ExpandSlice(slice); err != nil || path.Clean("/"+parent) != want {
			return "", invalid("systemd cgroup parent %q is not a slice name nor the path of one", parent)
		}
	}
	if !strings.HasSuffix(slice, ".slice") || strings.ContainsAny(slice, "/:") {
		return "", invalid("systemd cgroup parent %q is not a slice name", parent)
	}
	return slice, nil
}

// ExpandSlice turns a systemd slice name into its cgroupfs path:
// "a-b-c.slice" is /a.slice/a-b.slice/a-b-c.slice and "-.slice" is /.
func ExpandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || strings.Contains(slice, "/") {
		return "", invalid("%q is not a slice name", slice)
	}
	if name == "-" {
		return "/", nil
	}
	if name == "" || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.Contains(name, "--") {
		return "", invalid("slice name %q", slice)
	}
	var b strings.Builder
	prefix := ""
	for _, part := range strings.Split(name, "-") {
		b.WriteString("/" + prefix + part + ".slice")
		prefix += part + "-"
	}
	return b.String(), nil
}

// SystemdFSPath maps "slice:prefix:name" to the cgroupfs path of the
// scope systemd would create for it: <expanded slice>/<prefix>-<name>.scope
// (or <expanded slice>/<name> when name is itself a slice).
func SystemdFSPath(p string) (string, error) {
	parts := strings.Split(p, ":")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return "", invalid("systemd cgroup path %q: want slice:prefix:name", p)
	}
	slice := parts[0]
	if slice == "" {
		slice = "system.slice"
	}
	dir, err := ExpandSlice(slice)
	if err != nil {
		return "", err
	}
	// As in runc: a name that is a slice is the unit itself.
	unit := parts[2]
	if !strings.HasSuffix(unit, ".slice") {
		unit = parts[1] + "-" + parts[2] + ".scope"
	}
	if strings.ContainsAny(unit, "/\x00") {
		return "", invalid("systemd cgroup path %q", p)
	}
	return path.Join(dir, unit), nil
}
