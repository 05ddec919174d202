package securefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SearchableByOthers checks that every directory from / to dir lets other users
// through (the x bit for others): the runtime opens a container's rootfs
// from inside its user namespace.
func SearchableByOthers(dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %v) is not searchable by other users, so a container whose root is an unprivileged host uid cannot reach its rootfs under %s", p, fi.Mode().Perm(), dir)
		}
		if p == "/" {
			return nil
		}
	}
}
