package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// maxSymlinks bounds symlink expansion during resolution, like the kernel's
// 40-link ELOOP limit.
const maxSymlinks = 40

// cleanEntryName turns a tar entry name into a clean path relative to the
// layer root. Absolute names are made relative; any ".." component is refused
// outright rather than clamped, because a layer that needs one is hostile.
func cleanEntryName(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("tar entry %q: nul byte: %w", name, errdefs.ErrInvalidArgument)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("tar entry %q: parent reference: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	rel := strings.TrimPrefix(filepath.Clean("/"+name), "/")
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

// resolveInRoot resolves rel (relative to root) to a host path that is
// guaranteed to lie inside root, following symlinks as if root were "/"
// (the semantics of openat2's RESOLVE_IN_ROOT). Components that do not exist
// are appended lexically. The layer dir is private to the unpacker while it
// runs, so nothing can swap components between this check and the use.
func resolveInRoot(root, rel string) (string, error) {
	var resolved []string // components below root, all existing non-symlinks
	pending := splitPath(rel)
	links := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		cur := filepath.Join(root, filepath.Join(resolved...), c)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			resolved = append(resolved, c)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("lstat %s: %w", cur, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = append(resolved, c)
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("resolve %s in %s: too many symlinks: %w", rel, root, errdefs.ErrInvalidArgument)
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", fmt.Errorf("readlink %s: %w", cur, err)
		}
		if filepath.IsAbs(target) {
			resolved = resolved[:0]
		}
		pending = append(splitPath(target), pending...)
	}
	return filepath.Join(append([]string{root}, resolved...)...), nil
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}

// parentInRoot resolves the parent directory of rel inside root and returns
// the host path of rel with its final component left unresolved, so that the
// caller creates, replaces or links the entry itself and never what a symlink
// in its place points to.
func parentInRoot(root, rel string) (string, error) {
	dir, base := filepath.Split(rel)
	parent, err := resolveInRoot(root, dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, base), nil
}
