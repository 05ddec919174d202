package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/podinit"
)

// probeMappings are arbitrary: the probe only needs some user namespace.
var probeMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 65536, Size: 65536}}

// ProbeIDMappedOverlay mounts, under dir, an overlay whose lower layer is
// idmapped through a new user namespace, exactly as a container rootfs in
// a user namespace is mounted (MountIDMappedAt), and removes it.
// binary (the shim binary) is started as the pod init to hold the user
// namespace.
func ProbeIDMappedOverlay(binary, dir string) (retErr error) {
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		return fmt.Errorf("no user namespaces in this kernel: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, "userns-probe-")
	if err != nil {
		return fmt.Errorf("create probe dir: %w", err)
	}
	defer func() {
		retErr = errors.Join(retErr, os.RemoveAll(tmp))
	}()
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return fmt.Errorf("create probe dir: %w", err)
		}
	}
	pid, err := podinit.Start(podinit.Options{Binary: binary, Cloneflags: unix.CLONE_NEWUSER, UIDMappings: probeMappings, GIDMappings: probeMappings})
	if err != nil {
		return err
	}
	defer func() { _ = unix.Kill(pid, unix.SIGKILL) }()
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "lowerdir=" + filepath.Join(tmp, "lower"), "upperdir=" + filepath.Join(tmp, "upper"), "workdir=" + filepath.Join(tmp, "work"),
	}}
	merged := filepath.Join(tmp, "merged")
	idm := IDMap{UsernsPath: fmt.Sprintf("/proc/%d/ns/user", pid), RootUID: 65536, RootGID: 65536}
	if err := MountIDMappedAt(m, merged, idm); err != nil {
		return err
	}
	return Unmount(merged)
}
