package oci

import (
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// WithPrivileged makes a container privileged: all capabilities (caps, the
// daemon's bounding set; nil means AllCapabilities), no masked or read-only
// paths, writable sysfs and cgroupfs, every device allowed in the device
// cgroup and the given host devices created, no seccomp and no AppArmor
// confinement.
func WithPrivileged(hostDevices []Device, caps []string) SpecOpt {
	return func(s *specs.Spec) error {
		if caps == nil {
			caps = AllCapabilities
		}
		s.Process.Capabilities = capsOf(caps)
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
		s.Linux.Seccomp = nil
		s.Process.ApparmorProfile = ""
		for i := range s.Mounts {
			if t := s.Mounts[i].Type; t == "sysfs" || t == "cgroup" {
				s.Mounts[i].Options = slices.DeleteFunc(s.Mounts[i].Options, func(o string) bool { return o == "ro" })
				s.Mounts[i].Options = append(s.Mounts[i].Options, "rw")
			}
		}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		return WithDevices(hostDevices)(s)
	}
}

// WithMaskedPaths replaces the masked paths; nil or empty keeps the
// defaults (the CRI proto cannot tell them apart; procPaths decides what
// an empty list means).
func WithMaskedPaths(p []string) SpecOpt {
	return func(s *specs.Spec) error {
		if len(p) == 0 {
			return nil
		}
		if err := checkAbsPaths("masked path", p); err != nil {
			return err
		}
		s.Linux.MaskedPaths = slices.Clone(p)
		return nil
	}
}

// WithReadonlyPaths replaces the read-only paths; nil or empty keeps the
// defaults.
func WithReadonlyPaths(p []string) SpecOpt {
	return func(s *specs.Spec) error {
		if len(p) == 0 {
			return nil
		}
		if err := checkAbsPaths("readonly path", p); err != nil {
			return err
		}
		s.Linux.ReadonlyPaths = slices.Clone(p)
		return nil
	}
}

func checkAbsPaths(what string, ps []string) error {
	for _, p := range ps {
		if !path.IsAbs(p) || strings.IndexByte(p, 0) >= 0 {
			return invalid("%s %q is not an absolute path", what, p)
		}
	}
	return nil
}

// AppArmor says whether the host confines containers with AppArmor and
// which profile RuntimeDefault means on it.
type AppArmor struct {
	Enabled        bool
	DefaultProfile string
}

// appArmorLocalPrefix prefixes a Localhost profile's name, in the
// deprecated string and, as the kubelet sends it, in localhost_ref.
const appArmorLocalPrefix = "localhost/"

// AppArmorProfile returns the process.apparmorProfile for a CRI request, as
// containerd and CRI-O choose it. The structured field wins over the
// deprecated string ("runtime/default", "unconfined", "localhost/<name>").
// No request at all means RuntimeDefault, the host's default profile,
// unless the container is privileged: a privileged container runs
// unconfined unless it asks for a Localhost profile. Unconfined is no
// profile (the process keeps the unconfined label of the shim that starts
// it). Without AppArmor on the host only unconfined and runtime default
// are accepted (both mean no profile). Whether a Localhost profile is
// loaded is for the caller to check: the builder does no I/O.
func AppArmorProfile(p *runtimeapi.SecurityProfile, deprecated string, aa AppArmor, privileged bool) (string, error) {
	kind, ref := runtimeapi.SecurityProfile_RuntimeDefault, ""
	if p != nil || deprecated != "" {
		var err error
		if kind, ref, err = profileKind(p, deprecated, appArmorLocalPrefix); err != nil {
			return "", err
		}
	}
	switch kind {
	case runtimeapi.SecurityProfile_Unconfined:
		return "", nil
	case runtimeapi.SecurityProfile_RuntimeDefault:
		if !aa.Enabled || privileged {
			return "", nil
		}
		return aa.DefaultProfile, nil
	default:
		ref = strings.TrimPrefix(ref, appArmorLocalPrefix)
		if !aa.Enabled {
			return "", invalid("apparmor profile %q requested but apparmor is not enabled on this host", ref)
		}
		if ref == "" {
			return "", invalid("apparmor localhost profile without a name")
		}
		return ref, nil
	}
}

// profileKind maps the structured profile, or the deprecated string when
// the structure is absent, to a kind and a localhost reference. No request
// at all is Unconfined, what the kubelet means for seccomp (it sends
// RuntimeDefault explicitly); AppArmorProfile decides its own default.
func profileKind(p *runtimeapi.SecurityProfile, deprecated, localPrefix string) (runtimeapi.SecurityProfile_ProfileType, string, error) {
	if p != nil {
		switch p.GetProfileType() {
		case runtimeapi.SecurityProfile_RuntimeDefault, runtimeapi.SecurityProfile_Unconfined:
			return p.GetProfileType(), "", nil
		case runtimeapi.SecurityProfile_Localhost:
			return runtimeapi.SecurityProfile_Localhost, p.GetLocalhostRef(), nil
		default:
			return 0, "", invalid("unknown security profile type %d", p.GetProfileType())
		}
	}
	switch {
	case deprecated == "", deprecated == "unconfined":
		return runtimeapi.SecurityProfile_Unconfined, "", nil
	case deprecated == "runtime/default", deprecated == "docker/default":
		return runtimeapi.SecurityProfile_RuntimeDefault, "", nil
	case strings.HasPrefix(deprecated, localPrefix):
		return runtimeapi.SecurityProfile_Localhost, strings.TrimPrefix(deprecated, localPrefix), nil
	default:
		return 0, "", invalid("unknown security profile %q", deprecated)
	}
}

// WithAppArmorProfile sets process.apparmorProfile.
func WithAppArmorProfile(name string) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.ApparmorProfile = name
		return nil
	}
}

// WithSELinuxLabels sets the process label and the mount label (the
// context libcontainer mounts the container's tmpfs, mqueue and the like
// with). Empty labels, a host without SELinux, leave both unset.
func WithSELinuxLabels(process, mount string) SpecOpt {
	return func(s *specs.Spec) error {
		s.Process.SelinuxLabel = process
		s.Linux.MountLabel = mount
		return nil
	}
}
