package wire

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// userNamespaces answers whether pods of a runtime handler may have a
// user namespace: the kernel must idmap overlay layers and bind mounts on
// the snapshot filesystem (probed once, on first use), and the handler
// must apply idmapped mounts (runtime.SupportsIDMappedMounts).
type userNamespaces struct {
	binary string // re-executed as the probe's user namespace holder
	dir    string // where the probe mounts: the snapshot root
	// bundles is where container rootfs mounts live: a container's root,
	// an unprivileged host uid, must be able to reach them by path.
	bundles string
	lookup  interface {
		Lookup(name string) (runtime.Handler, error)
	}

	once sync.Once
	err  error
}

// Supported reports whether pods of handler may have a user namespace.
func (u *userNamespaces) Supported(ctx context.Context, handler string) bool {
	u.once.Do(func() {
		u.err = errors.Join(searchable(u.bundles), ProbeIDMappedOverlay(u.binary, u.dir))
		if u.err != nil {
			klog.FromContext(ctx).Info("user namespaces are not supported", "err", u.err)
		}
	})
	if u.err != nil {
		return false
	}
	h, err := u.lookup.Lookup(handler)
	return err == nil && runtime.SupportsIDMappedMounts(ctx, h)
}

// searchable checks that every directory from / to dir lets other users
// through (the x bit for others): the runtime opens a container's rootfs
// from inside its user namespace.
func searchable(dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %v) is not searchable by other users, so a container whose root is an unprivileged host uid cannot reach its rootfs under %s", p, fi.Mode().Perm(), dir)
		}
		if p == "/" {
			return nil
		}
	}
}

// probeMappings are arbitrary: the probe only needs some user namespace.
var probeMappings = oci.IDMappings{
	UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 65536, Size: 65536}},
	GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 65536, Size: 65536}},
}

// ProbeIDMappedOverlay mounts, under dir, an overlay whose lower layer is
// idmapped through a new user namespace, exactly as a container rootfs in
// a user namespace is mounted (snapshot.MountIDMappedAt), and removes it.
// binary is re-executed as the pod init to hold the user namespace.
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
	pid, err := namespaces{binary: binary}.startPodInit(unix.CLONE_NEWUSER, &probeMappings)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Kill(pid, unix.SIGKILL) }()
	m := snapshot.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "lowerdir=" + filepath.Join(tmp, "lower"), "upperdir=" + filepath.Join(tmp, "upper"), "workdir=" + filepath.Join(tmp, "work"),
	}}
	merged := filepath.Join(tmp, "merged")
	idm := snapshot.IDMap{UsernsPath: fmt.Sprintf("/proc/%d/ns/user", pid), RootUID: 65536, RootGID: 65536}
	if err := snapshot.MountIDMappedAt(m, merged, idm); err != nil {
		return err
	}
	return snapshot.Unmount(merged)
}
