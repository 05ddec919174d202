package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// stageIDMappedMounts makes the idmapped bind mounts of a container in a
// pod user namespace here, in the daemon, rather than in the runtime: each
// bind mount that pkg/oci idmapped through the pod's namespace (volumes,
// and the pod files of pods recorded before they belonged to the pod's
// root: podfiles.Paths.PodOwned) is cloned, idmapped with the pod's pinned namespace and
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

// refuseIDMappedTmpfs refuses every idmapped mount of spec that is a tmpfs
// or, recursive, has one below it, with an error that says why (a
// FailedPrecondition): on a kernel that cannot idmap tmpfs (before Linux
// 6.3) mount_setattr would fail with a bare EINVAL. The kubelet's secret,
// projected and memory-backed emptyDir volumes are tmpfs. The pod's own
// shm and files are not idmapped (podfiles.Paths.PodOwned).
func refuseIDMappedTmpfs(spec *specs.Spec) error {
	for _, m := range spec.Mounts {
		if m.Type != "bind" || len(m.UIDMappings)+len(m.GIDMappings) == 0 {
			continue
		}
		p, err := tmpfsIn(m.Source, slices.Contains(m.Options, "rbind"))
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		if p != "" {
			return fmt.Errorf("mount %s: %s is a tmpfs, and this kernel cannot idmap tmpfs (Linux 6.3 can): "+
				"a container in a pod with its own user namespace (hostUsers: false) sees its volumes through idmapped mounts: %w",
				m.Destination, p, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}

// tmpfsIn returns src when it is on a tmpfs or, when recursive, the first
// tmpfs mounted below it; "" when there is none.
func tmpfsIn(src string, recursive bool) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(src, &st); err != nil {
		return "", fmt.Errorf("statfs(%s): %w", src, err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		return src, nil
	}
	if !recursive {
		return "", nil
	}
	below, err := mountinfo.GetMounts(mountinfo.PrefixFilter(src))
	if err != nil {
		return "", fmt.Errorf("mounts below %s: %w", src, err)
	}
	for _, m := range below {
		if m.FSType == "tmpfs" {
			return m.Mountpoint, nil
		}
	}
	return "", nil
}
