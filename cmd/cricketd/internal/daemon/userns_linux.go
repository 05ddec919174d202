package daemon

import (
	"context"
	"errors"
	"sync"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/securefs"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// userNamespaces answers whether pods of a runtime handler may have a
// user namespace: the kernel must idmap overlay layers and bind mounts on
// the snapshot filesystem (probed once, on first use) and a container's
// root must be able to reach its bundle. The daemon makes every idmapped
// mount itself (the rootfs, and the bind mounts container.HostSpecs
// stages), so any handler that joins a user namespace by path will do.
type userNamespaces struct {
	binary string // started as the pod init that holds the probe's user namespace
	dir    string // where the probe mounts: the snapshot root
	// bundles is where container rootfs mounts live: a container's root,
	// an unprivileged host uid, must be able to reach them by path.
	bundles string
	lookup  interface {
		Lookup(name string) (runtime.Handler, error)
	}

	once sync.Once
	err  error

	// probeTmpfs is snapshot.ProbeIDMappedTmpfs unless a test fakes it.
	probeTmpfs func() error
	tmpfsOnce  sync.Once
	tmpfsErr   error
}

// Supported reports whether pods of handler may have a user namespace.
func (u *userNamespaces) Supported(ctx context.Context, handler string) bool {
	u.once.Do(func() {
		u.err = errors.Join(securefs.SearchableByOthers(u.bundles), snapshot.ProbeIDMappedOverlay(u.binary, u.dir))
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

// TmpfsIDMap reports whether the kernel idmaps tmpfs mounts (Linux 6.3),
// probed once, on first use: on a kernel that does not, a container of a
// pod with a user namespace cannot have a tmpfs-backed volume (the
// kubelet's secret, projected and memory-backed emptyDir volumes), and
// container.HostSpecs refuses it with a clear error.
func (u *userNamespaces) TmpfsIDMap(ctx context.Context) bool {
	u.tmpfsOnce.Do(func() {
		probe := u.probeTmpfs
		if probe == nil {
			probe = func() error { return snapshot.ProbeIDMappedTmpfs(u.binary, u.dir) }
		}
		if u.tmpfsErr = probe(); u.tmpfsErr != nil {
			klog.FromContext(ctx).Info("this kernel cannot idmap tmpfs (Linux 6.3 can): containers of pods with a user namespace cannot mount tmpfs-backed volumes", "err", u.tmpfsErr)
		}
	})
	return u.tmpfsErr == nil
}
