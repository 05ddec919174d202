package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

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
