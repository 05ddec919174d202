package oci

import (
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device is a host device resolved for a container: where it appears in the
// container, what the host node is, and the cgroup access to grant.
type Device struct {
	Path        string // path inside the container
	Type        string // "c" or "b"
	Major       int64
	Minor       int64
	FileMode    os.FileMode
	UID         uint32
	GID         uint32
	Permissions string // any of "rwm"; empty means "rwm"
}

// NormalizePermissions checks a CRI device permission string ("rwm" or a
// subset, in any order) and returns it in canonical order.
func NormalizePermissions(p string) (string, error) {
	if p == "" {
		return "rwm", nil
	}
	var out strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(p, c) {
			out.WriteRune(c)
		}
	}
	if strings.Trim(p, "rwm") != "" || out.Len() == 0 {
		return "", invalid("device permissions %q: want a subset of \"rwm\"", p)
	}
	return out.String(), nil
}

// WithDevices creates the devices in the container and allows them in the
// device cgroup.
func WithDevices(devs []Device) SpecOpt {
	return func(s *specs.Spec) error {
		for _, d := range devs {
			if !path.IsAbs(d.Path) || strings.IndexByte(d.Path, 0) >= 0 {
				return invalid("device path %q is not an absolute path", d.Path)
			}
			if d.Type != "c" && d.Type != "b" {
				return invalid("device %s has type %q, want c or b", d.Path, d.Type)
			}
			perms, err := NormalizePermissions(d.Permissions)
			if err != nil {
				return err
			}
			mode, uid, gid := d.FileMode, d.UID, d.GID
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{
				Path: path.Clean(d.Path), Type: d.Type, Major: d.Major, Minor: d.Minor,
				FileMode: &mode, UID: &uid, GID: &gid,
			})
			major, minor := d.Major, d.Minor
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
				Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: perms,
			})
		}
		return nil
	}
}
