package securefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// unmountRounds bounds how often RemoveAllUnmounted looks for mounts
// again: stacked mounts show up one layer per round.
const unmountRounds = 8

// RemoveAllUnmounted removes dir and everything in it once nothing is
// mounted at or beneath it: it detaches (MNT_DETACH) every such mount,
// deepest first, and refuses when one is still there. A recursive removal
// through a live mount would delete what is mounted (a host volume bound
// for a container, an image layer under an overlay, a pod's /dev/shm)
// rather than the mount point. A missing dir is success.
func RemoveAllUnmounted(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("remove %q: not an absolute path", dir)
	}
	real, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	for range unmountRounds {
		mounts, err := MountsBeneath(real)
		if err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
		if len(mounts) == 0 {
			if err := os.RemoveAll(real); err != nil {
				return fmt.Errorf("remove %s: %w", dir, err)
			}
			return nil
		}
		for _, m := range mounts {
			err := unix.Unmount(m, unix.MNT_DETACH)
			if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove %s: umount(%s, MNT_DETACH): %w", dir, m, err)
			}
		}
	}
	mounts, _ := MountsBeneath(real)
	return fmt.Errorf("remove %s: still mounted beneath it after %d rounds of unmounting: %s", dir, unmountRounds, strings.Join(mounts, ", "))
}

// MountsBeneath lists the mount points at or beneath dir (a path without
// symlinks) in this mount namespace, deepest first; a point with stacked
// mounts is listed once per mount.
func MountsBeneath(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != dir && !strings.HasPrefix(m.Mountpoint, dir+"/"), false
	})
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	out := make([]string, 0, len(infos))
	for _, m := range infos {
		out = append(out, m.Mountpoint)
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out, nil
}
