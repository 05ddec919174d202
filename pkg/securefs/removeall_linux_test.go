package securefs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/test/testutil"
)

// TestRemoveAllUnmounted: a dir with a bind mount of a "volume" (twice,
// stacked) and a tmpfs beneath it is removed, and the volume's file
// survives; a plain dir and a missing one are removed without root.
func TestRemoveAllUnmounted(t *testing.T) {
	t.Run("plain dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := RemoveAllUnmounted(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Fatalf("dir still there: %v", err)
		}
		if err := RemoveAllUnmounted(dir); err != nil {
			t.Fatalf("missing dir: %v", err)
		}
	})
	t.Run("mounts beneath", func(t *testing.T) {
		testutil.RequireRoot(t)
		base, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		vol, dir := filepath.Join(base, "vol"), filepath.Join(base, "state")
		bind, shm := filepath.Join(dir, "bundle", "hostmounts", "0"), filepath.Join(dir, "shm")
		for _, d := range []string{vol, bind, shm} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		keep := filepath.Join(vol, "data")
		if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := unix.Mount(vol, bind, "", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Mount("tmpfs", shm, "tmpfs", 0, "size=64k"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, m := range []string{bind, bind, shm} {
				_ = unix.Unmount(m, unix.MNT_DETACH)
			}
		})
		if m, err := MountsBeneath(dir); err != nil || len(m) != 3 {
			t.Fatalf("MountsBeneath = %v, %v; want 3 mounts", m, err)
		}
		if err := RemoveAllUnmounted(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Fatalf("dir still there: %v", err)
		}
		if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
			t.Fatalf("the bound volume lost its file: %q, %v", b, err)
		}
		if m, err := MountsBeneath(dir); err != nil || len(m) != 0 {
			t.Fatalf("mounts left: %v, %v", m, err)
		}
	})
}
