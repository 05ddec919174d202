package shimclient

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// DropBinaryCache writes back and drops the page cache of the shim binary
// at path, so that the shims started next read it in again through their
// own page faults.
//
// Why: a binary just written (go build, install, a package manager) sits
// in the page cache in large folios, and recent kernels map a whole large
// folio into a process on its first touch. Every shim then counts several
// MiB of the binary it never uses in its RSS (measured: 9.5 MiB of file
// pages against 2.9 MiB once the cache was filled by faults). The pages
// are shared between shims, but RSS is what operators and the kubelet
// see. Dropping is only an optimisation: pages mapped by running shims
// stay, and a failure costs nothing but memory.
func DropBinaryCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open shim binary %s: %w", path, err)
	}
	defer f.Close()
	fd := int(f.Fd())
	// Dirty pages cannot be dropped: write them back first.
	if err := unix.Fdatasync(fd); err != nil {
		return fmt.Errorf("fdatasync %s: %w", path, err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("fadvise(%s, POSIX_FADV_DONTNEED): %w", path, err)
	}
	return nil
}
