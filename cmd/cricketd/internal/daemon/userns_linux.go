package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
// the snapshot filesystem (probed once, on first use) and a container's
// root must be able to reach its bundle. The daemon makes every idmapped
// mount itself (the rootfs, stageIDMappedMounts), so any handler that
// joins a user namespace by path will do.
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
	_, err := u.lookup.Lookup(handler)
	return err == nil
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

// stageIDMappedMounts makes the idmapped bind mounts of a container in a
// pod user namespace here, in the daemon, rather than in the runtime: each
// bind mount that pkg/oci idmapped through the pod's namespace (volumes
// and pod files) is cloned, idmapped with the pod's pinned namespace and
// attached under dir, and the spec binds that instead, without mappings.
// Every handler then only binds a path: runc 1.1 has no idmapped mounts,
// and crun 1.8 races with its own helper namespace when the container
// joins a pod pid namespace (mount_setattr fails with EPERM now and then).
// It also spares the runtime a helper process per mount. Mounts that
// propagate (rslave, rshared) keep their OCI mappings: a clone would not
// receive or send mount events. dir is removed by RemoveIDMappedBinds.
func stageIDMappedMounts(spec *specs.Spec, dir, usernsPath string) (retErr error) {
	if spec.Linux == nil || len(spec.Linux.UIDMappings) == 0 {
		return nil
	}
	var userns *os.File
	defer func() {
		if userns != nil {
			userns.Close()
		}
		if retErr != nil {
			retErr = errors.Join(retErr, snapshot.RemoveIDMappedBinds(dir))
		}
	}()
	for i := range spec.Mounts {
		m := &spec.Mounts[i]
		if !stageable(spec, m) {
			continue
		}
		if userns == nil {
			var err error
			if userns, err = os.Open(usernsPath); err != nil {
				return fmt.Errorf("open pod user namespace %s: %w", usernsPath, err)
			}
			if err := os.MkdirAll(dir, 0o711); err != nil {
				return fmt.Errorf("create idmapped mounts dir: %w", err)
			}
		}
		target := filepath.Join(dir, strconv.Itoa(i))
		if err := mountPoint(m.Source, target); err != nil {
			return err
		}
		if err := snapshot.IDMappedBind(m.Source, target, int(userns.Fd()), slices.Contains(m.Options, "rbind")); err != nil {
			return fmt.Errorf("idmapped mount of %s for %s: %w", m.Source, m.Destination, err)
		}
		m.Source, m.UIDMappings, m.GIDMappings = target, nil, nil
	}
	if !slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool { return len(m.UIDMappings)+len(m.GIDMappings) > 0 }) {
		spec.Version = oci.SpecVersion
	}
	return nil
}

// stageable: a private bind mount idmapped exactly like the container.
func stageable(spec *specs.Spec, m *specs.Mount) bool {
	if m.Type != "bind" || len(m.UIDMappings) == 0 {
		return false
	}
	if !slices.Equal(m.UIDMappings, spec.Linux.UIDMappings) || !slices.Equal(m.GIDMappings, spec.Linux.GIDMappings) {
		return false
	}
	return !slices.ContainsFunc(m.Options, func(o string) bool {
		return o == "rslave" || o == "rshared" || o == "slave" || o == "shared"
	})
}

// mountPoint creates target as what src is: a directory or a file.
func mountPoint(src, target string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("mount source: %w", err)
	}
	if fi.IsDir() {
		err = os.Mkdir(target, 0o711)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("create idmapped mount point: %w", err)
	}
	return nil
}
