package oci

import (
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// RootFS returns a read-only fs.FS over a container rootfs that resolves
// every path, symlinks included, as if root were "/" (openat2
// RESOLVE_IN_ROOT), so an image cannot point /etc/passwd at the host's.
func RootFS(root string) fs.FS { return rootFS(root) }

type rootFS string

func (r rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	dir, err := os.Open(string(r))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat2(int(dir.Fd()), name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &fs.PathError{Op: "openat2", Path: path.Join(string(r), name), Err: err}
	}
	return os.NewFile(uintptr(fd), path.Join(string(r), name)), nil
}
