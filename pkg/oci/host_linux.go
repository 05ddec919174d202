package oci

import (
	"slices"
)

// PrepareHost fills the fields of in that come from the host, leaving any
// the caller already set (in.User counts as set once it has
// AdditionalGids, which ResolveUser always fills): the process user
// resolved from the rootfs's
// /etc/passwd and /etc/group (confined to the rootfs), the CRI devices,
// the host's devices for a privileged container, a requested Localhost
// seccomp profile, the daemon's capability bounding set, and the
// oom_score_adj floor when the daemon cannot lower scores (no
// CAP_SYS_RESOURCE in its bounding set). in.Config and in.RootfsPath must be set.
// Errors about the request wrap errdefs.ErrInvalidArgument.
func PrepareHost(in *ContainerInput) error {
	sc := in.Config.GetLinux().GetSecurityContext()
	if in.User.UID == 0 && in.User.GID == 0 && in.User.AdditionalGids == nil {
		u, err := ResolveUser(RootFS(in.RootfsPath), UserRequestFromCRI(sc, in.Image.User))
		if err != nil {
			return err
		}
		in.User = u
	}
	if in.Devices == nil {
		for _, d := range in.Config.GetDevices() {
			devs, err := ResolveDevice(d)
			if err != nil {
				return err
			}
			in.Devices = append(in.Devices, devs...)
		}
	}
	if sc.GetPrivileged() && in.HostDevices == nil {
		devs, err := HostDevices()
		if err != nil {
			return err
		}
		in.HostDevices = devs
	}
	if p, ok := SeccompLocalhostPath(sc); ok && in.SeccompLocalhost == nil && !sc.GetPrivileged() {
		prof, err := LoadSeccompProfile(p)
		if err != nil {
			return err
		}
		in.SeccompLocalhost = prof
	}
	return prepareLimits(in)
}

func prepareLimits(in *ContainerInput) error {
	if in.AllCapabilities == nil {
		caps, err := CurrentCapabilities()
		if err != nil {
			return err
		}
		in.AllCapabilities = caps
	}
	if in.MinOOMScoreAdj == nil && !slices.Contains(in.AllCapabilities, "CAP_SYS_RESOURCE") {
		own, err := OwnOOMScoreAdj()
		if err != nil {
			return err
		}
		in.MinOOMScoreAdj = &own
	}
	return nil
}
