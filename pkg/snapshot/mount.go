package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Mount describes one mount of a prepared rootfs, in mount(2) terms.
type Mount struct {
	Type    string   `json:"type"`
	Source  string   `json:"source"`
	Options []string `json:"options"`
}

// Prepare creates the writable snapshot key on top of the committed layer
// parentChainID (empty for an empty rootfs) and returns how to mount it.
// Preparing an existing key is AlreadyExists.
func (s *Store) Prepare(key, parentChainID string) (Mount, error) {
	if key == "" || strings.ContainsAny(key, "/\x00") {
		return Mount{}, fmt.Errorf("snapshot key %q: %w", key, errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.act[key]; ok {
		return Mount{}, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrAlreadyExists)
	}
	if _, ok := s.layer[parentChainID]; parentChainID != "" && !ok {
		return Mount{}, fmt.Errorf("parent layer %s: %w", parentChainID, errdefs.ErrNotFound)
	}
	a := Active{Key: key, Parent: parentChainID, N: s.next.Add(1)}
	for _, sub := range []string{"fs", "work"} {
		if err := os.MkdirAll(filepath.Join(s.dir(a.N), sub), 0o755); err != nil {
			return Mount{}, fmt.Errorf("create snapshot dir: %w", err)
		}
	}
	if err := s.db.Put(activeBucket, activeID(key), recVersion, a); err != nil {
		_ = os.RemoveAll(s.dir(a.N))
		return Mount{}, err
	}
	s.act[key] = a
	return s.mountLocked(a), nil
}

// Mounts returns how to mount the prepared snapshot key.
func (s *Store) Mounts(key string) (Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.act[key]
	if !ok {
		return Mount{}, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	return s.mountLocked(a), nil
}

// UpperDir is the directory holding what was written to the prepared
// snapshot key: the overlay upper dir (or the bind-mounted dir of a
// snapshot with no parent).
func (s *Store) UpperDir(key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.act[key]
	if !ok {
		return "", fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	return filepath.Join(s.dir(a.N), "fs"), nil
}

func (s *Store) mountLocked(a Active) Mount {
	upper := filepath.Join(s.dir(a.N), "fs")
	var lowers []string
	for p := a.Parent; p != ""; p = s.layer[p].Parent {
		lowers = append(lowers, filepath.Join(s.dir(s.layer[p].N), "fs"))
	}
	if len(lowers) == 0 {
		return Mount{Type: "bind", Source: upper, Options: []string{"rbind", "rw"}}
	}
	return Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off",
		"lowerdir=" + strings.Join(lowers, ":"),
		"upperdir=" + upper,
		"workdir=" + filepath.Join(s.dir(a.N), "work"),
	}}
}

// WithMountLabel is m mounted with the SELinux mount label l (a container's,
// pkg/selinux): an overlay gets the context="l" option, so that every file
// of the rootfs has that label for the container, whatever the layers on
// disk have (no relabelling of shared layers). Without a label (a host
// without SELinux) m is unchanged, as is a bind mount, which takes no
// context option: the caller relabels its source.
func (m Mount) WithMountLabel(l string) Mount {
	if l == "" || m.Type != "overlay" {
		return m
	}
	opts := make([]string, 0, len(m.Options)+1)
	for _, o := range m.Options {
		if !strings.HasPrefix(o, "context=") {
			opts = append(opts, o)
		}
	}
	m.Options = append(opts, `context="`+l+`"`)
	return m
}

// activeID maps a caller's key to a store record id.
func activeID(key string) string {
	return fmt.Sprintf("k%x", key)
}

// Remove deletes the writable snapshot key; a missing key is success. The
// caller unmounts it first.
func (s *Store) Remove(key string) error {
	s.mu.Lock()
	a, ok := s.act[key]
	if ok {
		delete(s.act, key)
	}
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if err := s.db.Delete(activeBucket, activeID(key)); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir(a.N)); err != nil {
		return fmt.Errorf("remove snapshot dir %s: %w", s.dir(a.N), err)
	}
	return nil
}

// MountAt mounts m on target (which must exist). Overlay options longer
// than a page (many layers) are shortened to paths relative to the layers'
// common parent, mounted from a thread that chdirs there.
func MountAt(m Mount, target string) error {
	if m.Type == "bind" {
		if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount bind %s on %s: %w", m.Source, target, err)
		}
		return nil
	}
	data := strings.Join(m.Options, ",")
	if len(data) < unix.Getpagesize()-512 {
		if err := unix.Mount(m.Source, target, m.Type, 0, data); err != nil {
			return fmt.Errorf("mount %s on %s (%s): %w", m.Type, target, data, err)
		}
		return nil
	}
	return mountRelative(m, target)
}

// mountRelative mounts m with its dirs relative to their common parent. The
// chdir happens on a locked thread that first unshares its fs attributes,
// so no other goroutine sees it; the thread is discarded afterwards.
func mountRelative(m Mount, target string) error {
	absTarget, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("resolve mount target %s: %w", target, err)
	}
	dir := commonParent(m.Options)
	data := strings.Join(relativeOptions(m.Options, dir), ",")
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare CLONE_FS: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		if err := unix.Mount(m.Source, absTarget, m.Type, 0, data); err != nil {
			errc <- fmt.Errorf("mount %s on %s from %s (%s): %w", m.Type, absTarget, dir, data, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// commonParent is the longest directory prefix of every path in the
// lowerdir, upperdir and workdir options.
func commonParent(opts []string) string {
	var dirs []string
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			dirs = append(dirs, strings.Split(v, ":")...)
		case "upperdir", "workdir":
			dirs = append(dirs, v)
		}
	}
	if len(dirs) == 0 {
		return "/"
	}
	common := filepath.Dir(dirs[0])
	for _, d := range dirs[1:] {
		for common != "/" && !strings.HasPrefix(d, common+"/") {
			common = filepath.Dir(common)
		}
	}
	return common
}

func relativeOptions(opts []string, dir string) []string {
	rel := func(p string) string {
		if r, err := filepath.Rel(dir, p); err == nil {
			return r
		}
		return p
	}
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			parts := strings.Split(v, ":")
			for i := range parts {
				parts[i] = rel(parts[i])
			}
			o = k + "=" + strings.Join(parts, ":")
		case "upperdir", "workdir":
			o = k + "=" + rel(v)
		}
		out = append(out, o)
	}
	return out
}

// Unmount detaches target; a target that is not mounted is success.
func Unmount(target string) error {
	err := unix.Unmount(target, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("umount %s: %w", target, err)
}

// Usage is disk space used by a directory tree.
type Usage struct {
	Bytes  uint64
	Inodes uint64
}

// Usage returns the space used by the writable layer of snapshot key.
func (s *Store) Usage(key string) (Usage, error) {
	s.mu.Lock()
	a, ok := s.act[key]
	s.mu.Unlock()
	if !ok {
		return Usage{}, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	return DiskUsage(filepath.Join(s.dir(a.N), "fs"))
}

// ActiveUsage returns the space used by all writable snapshots.
func (s *Store) ActiveUsage() (Usage, error) {
	s.mu.Lock()
	dirs := make([]string, 0, len(s.act))
	for _, a := range s.act {
		dirs = append(dirs, s.dir(a.N))
	}
	s.mu.Unlock()
	var total Usage
	for _, d := range dirs {
		u, err := DiskUsage(d)
		if err != nil {
			return Usage{}, err
		}
		total.Bytes += u.Bytes
		total.Inodes += u.Inodes
	}
	return total, nil
}

// LayersUsage returns the space used by all committed layers.
func (s *Store) LayersUsage() (Usage, error) {
	s.mu.Lock()
	dirs := make([]string, 0, len(s.layer))
	for _, l := range s.layer {
		dirs = append(dirs, s.dir(l.N))
	}
	s.mu.Unlock()
	var total Usage
	for _, d := range dirs {
		u, err := DiskUsage(d)
		if err != nil {
			return Usage{}, err
		}
		total.Bytes += u.Bytes
		total.Inodes += u.Inodes
	}
	return total, nil
}

// DiskUsage counts allocated bytes and distinct inodes under dir; hard links
// are counted once. Entries vanishing during the walk are ignored.
func DiskUsage(dir string) (Usage, error) {
	var u Usage
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		u.Inodes++
		u.Bytes += uint64(st.Blocks) * 512
		return nil
	})
	if err != nil {
		return Usage{}, fmt.Errorf("disk usage of %s: %w", dir, err)
	}
	return u, nil
}
