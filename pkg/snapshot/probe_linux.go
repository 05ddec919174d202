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
	tmp, pid, err := startProbe(binary, dir, "userns-probe-", "lower", "upper", "work", "merged")
	if err != nil {
		return err
	}
	defer func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		retErr = errors.Join(retErr, os.RemoveAll(tmp))
	}()
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

// ProbeIDMappedTmpfs mounts a small tmpfs under dir and binds it idmapped
// through a new user namespace, as a container in a user namespace binds
// a tmpfs-backed volume (IDMappedBind), and removes it all. tmpfs accepts
// idmapped mounts from Linux 6.3; before, mount_setattr fails with EINVAL.
// binary (the shim binary) is started as the pod init that holds the
// user namespace.
func ProbeIDMappedTmpfs(binary, dir string) (retErr error) {
	tmp, pid, err := startProbe(binary, dir, "tmpfs-idmap-probe-", "tmpfs", "idmapped")
	if err != nil {
		return err
	}
	defer func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		retErr = errors.Join(retErr, os.RemoveAll(tmp))
	}()
	src, target := filepath.Join(tmp, "tmpfs"), filepath.Join(tmp, "idmapped")
	if err := unix.Mount("tmpfs", src, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64k"); err != nil {
		return fmt.Errorf("mount(tmpfs, %s): %w", src, err)
	}
	defer func() { retErr = errors.Join(retErr, Unmount(src)) }()
	userns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return fmt.Errorf("open probe user namespace: %w", err)
	}
	defer userns.Close()
	if err := IDMappedBind(src, target, int(userns.Fd()), false); err != nil {
		return err
	}
	return Unmount(target)
}

// startProbe makes a temp dir under dir with the subdirs named, and starts
// a pod init (binary) in a new user namespace for an idmap probe.
func startProbe(binary, dir, prefix string, subdirs ...string) (tmp string, pid int, retErr error) {
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		return "", 0, fmt.Errorf("no user namespaces in this kernel: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, prefix)
	if err != nil {
		return "", 0, fmt.Errorf("create probe dir: %w", err)
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, os.RemoveAll(tmp))
		}
	}()
	for _, d := range subdirs {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return "", 0, fmt.Errorf("create probe dir: %w", err)
		}
	}
	pid, err = podinit.Start(podinit.Options{Binary: binary, Cloneflags: unix.CLONE_NEWUSER, UIDMappings: probeMappings, GIDMappings: probeMappings})
	if err != nil {
		return "", 0, err
	}
	return tmp, pid, nil
}

// ProbeOverlay mounts, under dir, an overlay of one lower layer with an
// upper dir, as a container rootfs is mounted, checks that a file of the
// lower layer reads through it and that a write lands in the upper dir,
// and removes it all.
func ProbeOverlay(dir string) (retErr error) {
	tmp, err := os.MkdirTemp(dir, "overlay-probe-")
	if err != nil {
		return fmt.Errorf("create probe dir: %w", err)
	}
	defer func() {
		retErr = errors.Join(retErr, os.RemoveAll(tmp))
	}()
	p := func(n string) string { return filepath.Join(tmp, n) }
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(p(d), 0o755); err != nil {
			return fmt.Errorf("create probe dir: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(p("lower"), "f"), []byte("lower"), 0o644); err != nil {
		return fmt.Errorf("write probe file: %w", err)
	}
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + p("lower"), "upperdir=" + p("upper"), "workdir=" + p("work"),
	}}
	if err := MountAt(m, p("merged")); err != nil {
		return err
	}
	defer func() {
		retErr = errors.Join(retErr, Unmount(p("merged")))
	}()
	if b, err := os.ReadFile(filepath.Join(p("merged"), "f")); err != nil || string(b) != "lower" {
		return fmt.Errorf("read a lower file through the overlay: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(p("merged"), "g"), []byte("upper"), 0o644); err != nil {
		return fmt.Errorf("write through the overlay: %w", err)
	}
	if _, err := os.Stat(filepath.Join(p("upper"), "g")); err != nil {
		return fmt.Errorf("a write through the overlay is not in its upper dir: %w", err)
	}
	return nil
}
