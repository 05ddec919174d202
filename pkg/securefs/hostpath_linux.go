package securefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// maxSymlinks bounds symlink expansion, like the kernel's ELOOP limit.
const maxSymlinks = 40

// ResolveHostPath resolves the symlinks of the absolute host path p, as
// filepath.EvalSymlinks does, with one restriction: a symlink found inside
// one of the untrusted directories (the writable volumes of containers, whose
// content a container controls) must resolve to a path inside that
// directory. A container that replaces a directory of its volume with a
// symlink to "/" thus cannot make a later bind mount of that directory
// expose the host. A path that does not exist is returned with
// os.ErrNotExist.
func ResolveHostPath(p string, untrusted []string) (string, error) {
	return resolveHostPath(p, untrusted, false)
}

// ResolveOrCreateHostPath is ResolveHostPath, except that a missing
// component is created as a directory (mode 0755, owned by the caller),
// as containerd and CRI-O do for a hostPath volume that does not exist.
// Each one is made with mkdirat(2) in its parent opened with
// RESOLVE_NO_SYMLINKS, so a symlink swapped into the path already
// resolved cannot redirect the creation; what is created is then resolved
// like any other component, with the same untrusted-volume check.
func ResolveOrCreateHostPath(p string, untrusted []string) (string, error) {
	return resolveHostPath(p, untrusted, true)
}

func resolveHostPath(p string, untrusted []string, create bool) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("host path %q is not absolute: %w", p, errdefs.ErrInvalidArgument)
	}
	resolved := "/"
	pending := strings.Split(p, "/")
	var within []string // the untrusted dirs the result must stay inside
	for links := 0; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		fi, err := os.Lstat(next)
		if create && errors.Is(err, os.ErrNotExist) {
			// Never create outside a volume a symlink in it left.
			if err := checkWithin(p, resolved, within); err != nil {
				return "", err
			}
			if err = mkdirNoFollow(resolved, c); err == nil {
				fi, err = os.Lstat(next)
			}
		}
		if err != nil {
			return "", fmt.Errorf("resolve host path %s: %w", p, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("resolve host path %s: too many symlinks: %w", p, errdefs.ErrInvalidArgument)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("resolve host path %s: %w", p, err)
		}
		for _, u := range untrusted {
			if isWithin(u, resolved) {
				within = append(within, u)
			}
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	if err := checkWithin(p, resolved, within); err != nil {
		return "", err
	}
	return resolved, nil
}

// checkWithin fails unless resolved, where p led so far, is inside every
// volume in within.
func checkWithin(p, resolved string, within []string) error {
	for _, u := range within {
		if !isWithin(u, resolved) {
			return fmt.Errorf("host path %s resolves to %s, outside the volume %s through a symlink in it: %w", p, resolved, u, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// mkdirNoFollow creates the directory name (mode 0755, whatever the
// umask) in parent, a resolved path none of whose components may be a
// symlink by now. A directory that appeared meanwhile is no error.
func mkdirNoFollow(parent, name string) error {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(unix.AT_FDCWD, parent, &how)
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("create %s in %s: a symlink was swapped in after it was resolved: %w", name, parent, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return &os.PathError{Op: "openat2", Path: parent, Err: err}
	}
	defer unix.Close(fd)
	err = unix.Mkdirat(fd, name, 0o755)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "mkdirat", Path: filepath.Join(parent, name), Err: err}
	}
	// mkdirat's mode is cut by the umask: chmod through a descriptor of
	// the new directory opened with O_NOFOLLOW, so that a symlink
	// swapped in for it meanwhile is never followed.
	dir, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: filepath.Join(parent, name), Err: err}
	}
	defer unix.Close(dir)
	if err := unix.Fchmodat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", dir), 0o755, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: filepath.Join(parent, name), Err: err}
	}
	return nil
}

// isWithin reports whether p is dir or below it; both are clean and
// absolute.
func isWithin(dir, p string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// BindNoFollow bind-mounts (recursively) the file or directory at the
// resolved host path src onto target, creating target as an empty file or
// directory to match. src is opened with RESOLVE_NO_SYMLINKS, so a symlink
// swapped into any of its components since it was resolved makes the call
// fail instead of redirecting the mount; the mount is made from that open
// file, so nothing can be swapped between the check and the mount.
func BindNoFollow(src, target string) error {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(unix.AT_FDCWD, src, &how)
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("bind source %s: a symlink was swapped in after it was resolved: %w", src, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return &os.PathError{Op: "openat2", Path: src, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: src, Err: err}
	}
	if err := makeTarget(target, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
		return err
	}
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fd), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount(%s (fd of %s), %s, MS_BIND|MS_REC): %w", fmt.Sprintf("/proc/self/fd/%d", fd), src, target, err)
	}
	return nil
}

func makeTarget(target string, dir bool) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o711); err != nil {
		return fmt.Errorf("create mount point dir of %s: %w", target, err)
	}
	if dir {
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create mount point %s: %w", target, err)
		}
		return nil
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create mount point %s: %w", target, err)
	}
	return f.Close()
}

// Unbind detaches the mount at target and removes the mount point; a
// target that is not mounted or is gone is no error.
//
// The tree is made private first. On a host whose mounts are shared (every
// systemd host: / is), BindNoFollow's recursive copy puts the copies of the
// source's submounts in their peer groups, and detaching them would
// unmount the originals on the host as well (a hostPath volume of /sys
// would strip the node of its cgroup mounts). A private tree's unmounts
// propagate nowhere; the copies the executor made from the pin keep their
// own propagation.
func Unbind(target string) error {
	err := unix.Mount("", target, "", unix.MS_REC|unix.MS_PRIVATE, "")
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("mount(%s, MS_REC|MS_PRIVATE): %w", target, err)
	}
	err = unix.Unmount(target, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("umount(%s, MNT_DETACH): %w", target, err)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove mount point %s: %w", target, err)
	}
	return nil
}
