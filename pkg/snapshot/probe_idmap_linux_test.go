package snapshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/test/testutil"
)

// TestProbeIDMappedTmpfs: the probe answers what the kernel does (tmpfs
// takes an idmap from Linux 6.3) and leaves nothing behind.
func TestProbeIDMappedTmpfs(t *testing.T) {
	testutil.RequireRoot(t)
	bin := podInitBinary(t)
	dir := t.TempDir()
	err := ProbeIDMappedTmpfs(bin, dir)
	if kernelAtLeast(t, 6, 3) {
		if err != nil {
			t.Errorf("tmpfs idmap on a kernel that has it: %v", err)
		}
	} else if !errors.Is(err, unix.EINVAL) {
		t.Errorf("tmpfs idmap on a kernel before 6.3: %v, want EINVAL", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the probe left %d entries in %s", len(entries), dir)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), dir) {
		t.Errorf("the probe left mounts under %s", dir)
	}
}

// podInitBinary is this test binary (it is a pod init: pkg/podinit's
// init), copied where the probe namespace's root, an unprivileged host
// uid, can execute it.
func podInitBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for p := dir; strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	bin := filepath.Join(dir, "podinit")
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatal(err)
	}
	return ma > major || (ma == major && mi >= minor)
}
