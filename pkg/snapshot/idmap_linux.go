package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// IDMap says how a rootfs is id-mapped for a container in a user
// namespace: through the namespace pinned at UsernsPath, whose root is
// host RootUID:RootGID.
type IDMap struct {
	UsernsPath       string
	RootUID, RootGID uint32
}

// MountIDMappedAt mounts m on target so that a container in the user
// namespace of idm sees the image's files with the ids they have on disk:
// no layer is chowned. Each overlay lower dir is bind-mounted with
// MOUNT_ATTR_IDMAP (Linux 5.19 accepts idmapped overlay layers; overlayfs
// itself cannot be idmapped) beside target; the overlay keeps private
// clones of them, so they are detached right after it is mounted. The
// upper dir is not idmapped: it is given to the namespace's root, and what
// the container writes lands there under its host ids. A rootfs without
// layers is the upper dir bind-mounted with the idmap.
func MountIDMappedAt(m Mount, target string, idm IDMap) (retErr error) {
	userns, err := os.Open(idm.UsernsPath)
	if err != nil {
		return fmt.Errorf("open user namespace %s: %w", idm.UsernsPath, err)
	}
	defer userns.Close()
	if m.Type == "bind" {
		return IDMappedBind(m.Source, target, int(userns.Fd()), false)
	}
	stage := target + ".idmap"
	if err := os.Mkdir(stage, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create idmapped layer dir: %w", err)
	}
	defer func() {
		if err := RemoveIDMappedBinds(stage); err != nil && retErr == nil {
			retErr = err
		}
	}()
	opts := make([]string, 0, len(m.Options))
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			lowers, err := idmapLowers(strings.Split(v, ":"), stage, int(userns.Fd()))
			if err != nil {
				return err
			}
			o = k + "=" + strings.Join(lowers, ":")
		case "upperdir":
			if err := os.Lchown(v, int(idm.RootUID), int(idm.RootGID)); err != nil {
				return fmt.Errorf("chown upper dir %s to %d:%d: %w", v, idm.RootUID, idm.RootGID, err)
			}
		}
		opts = append(opts, o)
	}
	return MountAt(Mount{Type: m.Type, Source: m.Source, Options: opts}, target)
}

// idmapLowers bind-mounts each lower dir with the idmap at stage/<n>.
func idmapLowers(lowers []string, stage string, usernsFD int) ([]string, error) {
	out := make([]string, len(lowers))
	for i, l := range lowers {
		p := filepath.Join(stage, strconv.Itoa(i))
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create idmapped layer mount point: %w", err)
		}
		if err := IDMappedBind(l, p, usernsFD, false); err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// IDMappedBind clones the mount at src (with its submounts when
// recursive), idmaps it through the user namespace usernsFD and attaches
// it at target, which must exist. A layer or upper dir has no submounts
// worth keeping; a volume bound with "rbind" does.
func IDMappedBind(src, target string, usernsFD int, recursive bool) error {
	treeFlags, attrFlags := uint(unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC), uint(unix.AT_EMPTY_PATH)
	if recursive {
		treeFlags |= unix.AT_RECURSIVE
		attrFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, treeFlags)
	if err != nil {
		return fmt.Errorf("open_tree(%s, OPEN_TREE_CLONE): %w", src, err)
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)}
	if err := unix.MountSetattr(fd, "", attrFlags, &attr); err != nil {
		return fmt.Errorf("mount_setattr(%s, MOUNT_ATTR_IDMAP): %w", src, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount(%s -> %s): %w", src, target, err)
	}
	return nil
}

// RemoveIDMappedBinds detaches the mounts on the entries of stage and
// removes them and stage. Only empty dirs and files are removed (never a
// recursive removal): a mount point left mounted by mistake must not have
// the files of a layer or volume deleted through it. A missing stage is
// success.
func RemoveIDMappedBinds(stage string) error {
	entries, err := os.ReadDir(stage)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read idmapped mounts dir: %w", err)
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(stage, e.Name())
		// A recursive bind has submounts: detach them with it.
		if err := Unmount(p); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("remove idmapped mount point: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(stage); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove idmapped mounts dir: %w", err)
	}
	return nil
}
