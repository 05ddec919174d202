// Package securefs opens and creates paths below a trusted directory
// without ever leaving it, whatever symlinks or ".." components an
// untrusted writer (a container sharing the directory) has put on the way.
// It relies on openat2(2) RESOLVE_BENEATH (Linux 5.6+), so every check is
// made by the kernel in the same call that opens the path: there is no
// window between check and use.
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

// beneath is the resolution every lookup below root uses: never above root,
// never through /proc magic links.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// OpenBeneath opens rel, a path relative to the directory root, with the
// given open flags and creation mode. root itself is trusted and may be a
// symlink; any component of rel that would resolve outside root (an
// absolute symlink, "..", a /proc magic link) makes the call fail with an
// error wrapping errdefs.ErrInvalidArgument.
func OpenBeneath(root, rel string, flags int, mode uint32) (*os.File, error) {
	rootFd, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootFd)
	return openat(rootFd, root, rel, flags, mode)
}

// MkdirAllBeneath creates rel and its missing parents below root, like
// os.MkdirAll, but every existing component must resolve inside root and a
// dangling symlink is never created through.
func MkdirAllBeneath(root, rel string, mode os.FileMode) error {
	rootFd, err := openRoot(root)
	if err != nil {
		return err
	}
	defer unix.Close(rootFd)
	if err := checkRel(root, rel); err != nil {
		return err
	}
	done := "."
	for _, c := range strings.Split(filepath.Clean(rel), "/") {
		if c == "." || c == "" {
			continue
		}
		next := filepath.Join(done, c)
		f, err := openat(rootFd, root, next, unix.O_PATH|unix.O_DIRECTORY, 0)
		if errors.Is(err, os.ErrNotExist) {
			err = mkdirIn(rootFd, root, done, c, mode)
			if err == nil || errors.Is(err, os.ErrExist) {
				f, err = openat(rootFd, root, next, unix.O_PATH|unix.O_DIRECTORY, 0)
			}
		}
		if err != nil {
			return err
		}
		f.Close()
		done = next
	}
	return nil
}

// mkdirIn creates name in the directory parent (relative to root), itself
// resolved beneath root. mkdirat never follows a symlink in name's place.
func mkdirIn(rootFd int, root, parent, name string, mode os.FileMode) error {
	p, err := openat(rootFd, root, parent, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := unix.Mkdirat(int(p.Fd()), name, uint32(mode.Perm())); err != nil {
		return &os.PathError{Op: "mkdirat", Path: filepath.Join(root, parent, name), Err: err}
	}
	return nil
}

func openRoot(root string) (int, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return fd, nil
}

func checkRel(root, rel string) error {
	if !filepath.IsLocal(rel) && filepath.Clean(rel) != "." {
		return fmt.Errorf("path %q is not local to %s: %w", rel, root, errdefs.ErrInvalidArgument)
	}
	return nil
}

func openat(rootFd int, root, rel string, flags int, mode uint32) (*os.File, error) {
	if err := checkRel(root, rel); err != nil {
		return nil, err
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: beneath}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
		how.Mode = 0
	}
	fd, err := unix.Openat2(rootFd, rel, &how)
	switch {
	case errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("openat2 %s beneath %s: resolves outside it (%w): %w", rel, root, err, errdefs.ErrInvalidArgument)
	case err != nil:
		return nil, &os.PathError{Op: "openat2", Path: filepath.Join(root, rel), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
}

// OpenNoSymlinks opens the absolute path p with the given open flags and
// creation mode, failing (with an error wrapping errdefs.ErrInvalidArgument)
// when p is not absolute and clean or when any of its components is a
// symlink: for paths a client names, which must mean what they say.
func OpenNoSymlinks(p string, flags int, mode uint32) (*os.File, error) {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return nil, fmt.Errorf("path %q is not absolute and clean: %w", p, errdefs.ErrInvalidArgument)
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
		how.Mode = 0
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, p, &how)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("open %s: a component is a symlink: %w", p, errdefs.ErrInvalidArgument)
	case err != nil:
		return nil, &os.PathError{Op: "openat2", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}
