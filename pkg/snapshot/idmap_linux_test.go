package snapshot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cricket-cri/cricket/test/testutil"
)

// userns starts a process in a new user namespace whose root is host
// uid/gid 100000 and returns the namespace's path; the process is killed
// at the end of the test.
func userns(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid)
}

func owner(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}

func TestMountIDMappedAt(t *testing.T) {
	testutil.RequireRoot(t)
	ns := userns(t)
	dir := t.TempDir()
	for _, d := range []string{"l1", "l2", "upper", "work", "rootfs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "l1", "root-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "l2", "user-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "l2", "user-file"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{"index=off",
		"lowerdir=" + filepath.Join(dir, "l1") + ":" + filepath.Join(dir, "l2"),
		"upperdir=" + filepath.Join(dir, "upper"), "workdir=" + filepath.Join(dir, "work")}}
	target := filepath.Join(dir, "rootfs")
	if err := MountIDMappedAt(m, target, IDMap{UsernsPath: ns, RootUID: 100000, RootGID: 100000}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Unmount(target) })
	// The host sees the layers' files through the idmap: their on-disk
	// owners shifted by the namespace's root; the layers are untouched.
	for p, want := range map[string]string{
		target: "100000:100000", filepath.Join(target, "root-file"): "100000:100000", filepath.Join(target, "user-file"): "101000:101000",
		filepath.Join(dir, "l1", "root-file"): "0:0", filepath.Join(dir, "l2", "user-file"): "1000:1000",
	} {
		if got := owner(t, p); got != want {
			t.Errorf("owner of %s = %s, want %s", p, got, want)
		}
	}
	if _, err := os.Stat(target + ".idmap"); !os.IsNotExist(err) {
		t.Errorf("idmapped layer mounts left at %s.idmap: %v", target, err)
	}
}

func TestIDMappedBindAndRemove(t *testing.T) {
	testutil.RequireRoot(t)
	ns := userns(t)
	dir := t.TempDir()
	src, stage := filepath.Join(dir, "src"), filepath.Join(dir, "stage")
	for _, d := range []string{src, stage, filepath.Join(stage, "0")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := IDMappedBind(src, filepath.Join(stage, "0"), int(f.Fd()), true); err != nil {
		t.Fatal(err)
	}
	if got := owner(t, filepath.Join(stage, "0", "f")); got != "100000:100000" {
		t.Errorf("owner through the idmapped bind = %s, want 100000:100000", got)
	}
	if err := RemoveIDMappedBinds(stage); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stage); !os.IsNotExist(err) {
		t.Errorf("stage left: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(src, "f")); err != nil || string(data) != "keep" {
		t.Errorf("source file after removal: %q, %v", data, err)
	}
	if err := RemoveIDMappedBinds(stage); err != nil {
		t.Errorf("removing a missing stage: %v", err)
	}
}
