package runtimetest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/runtime"
)

// TestCgroupRoot holds the cgroups of root tests: each test process creates
// its containers under TestCgroupParent, TestCgroupRoot/<pid>, so that test
// binaries running in parallel never remove each other's parent, and
// RemoveTestCgroups deletes it afterwards.
const TestCgroupRoot = "/cricket-test"

// TestCgroupParent is this test process's parent cgroup for containers.
var TestCgroupParent = TestCgroupRoot + "/" + strconv.Itoa(os.Getpid())

// busyboxApplets are hard-linked in the test rootfs (hard links, not
// symlinks, like the upstream busybox image).
var busyboxApplets = []string{
	"sh", "ls", "cat", "echo", "sleep", "true", "false", "ps", "hostname", "id",
	"env", "head", "dd", "yes", "wc", "printf", "kill", "mount", "readlink", "tr", "tty",
}

// BusyboxRootfs builds a minimal rootfs at dir from the host's dynamic
// /bin/busybox and the libraries ldd says it needs.
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb := filepath.Join(dir, "bin", "busybox")
	copyFile(t, "/bin/busybox", bb, 0o755)
	for _, a := range busyboxApplets {
		if err := os.Link(bb, filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	for _, lib := range sharedLibs(t, "/bin/busybox") {
		dst := filepath.Join(dir, lib)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, lib, dst, 0o755)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sharedLibs lists the absolute library paths in ldd's output.
func sharedLibs(t testing.TB, bin string) []string {
	t.Helper()
	release := runtime.HoldReaper()
	out, err := exec.Command("ldd", bin).Output()
	release()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
			}
		}
	}
	return libs
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// Spec returns a minimal OCI spec for a busybox container: new pid, mount,
// ipc, uts and network namespaces, runc's default mounts, masks and
// capabilities, and the cgroup TestCgroupParent/<id>.
func Spec(id, rootfs string, args ...string) *specs.Spec {
	s := specconv.Example()
	s.Root = &specs.Root{Path: rootfs, Readonly: true}
	s.Process.Terminal = false
	s.Process.Args = args
	s.Process.Env = []string{"PATH=/bin", "HOME=/root"}
	s.Hostname = id
	s.Linux.CgroupsPath = TestCgroupParent + "/" + id
	s.Linux.Namespaces = []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace},
	}
	return s
}

// RemoveTestCgroups removes TestCgroupParent from every hierarchy it exists
// in (the containers' own cgroups must be gone already).
func RemoveTestCgroups(t testing.TB) {
	t.Helper()
	for _, d := range TestCgroupDirs() {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			t.Errorf("remove test cgroup %s: %v", d, err)
		}
		// Busy while another test process uses it: that one removes it.
		_ = os.Remove(filepath.Dir(d))
	}
}

// TestCgroupDirs lists the existing directories of TestCgroupParent.
func TestCgroupDirs() []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		d := filepath.Join(r, TestCgroupParent)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// Handlers returns the handlers to run root tests with: the builtin one, and
// runc and crun when installed.
func Handlers(t testing.TB) []runtime.Handler {
	hs := []runtime.Handler{{Name: runtime.DefaultHandler, Kind: runtime.KindBuiltin}}
	for _, name := range []string{"runc", "crun"} {
		path := map[string]string{"runc": "/usr/sbin/runc", "crun": "/usr/bin/crun"}[name]
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s not installed: %v", name, err)
			continue
		}
		if name == "crun" {
			path = CrunPath(t)
		}
		hs = append(hs, runtime.Handler{Name: name, Kind: runtime.KindRuncCLI, Path: path})
	}
	return hs
}

// CrunPath returns /usr/bin/crun, or on a hybrid cgroup host whose cgroup2
// mount has controllers (which crun 1.8 refuses) a wrapper that runs crun in
// a private mount namespace without that mount.
func CrunPath(t testing.TB) string {
	data, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if err != nil || strings.TrimSpace(string(data)) == "" {
		return "/usr/bin/crun"
	}
	w := filepath.Join(t.TempDir(), "crun")
	script := "#!/bin/sh\nexec unshare --mount --propagation private /bin/sh -c " +
		"'umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/crun \"$@\"' crun \"$@\"\n"
	if err := os.WriteFile(w, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("crun runs through %s: hybrid host with cgroup2 controllers %q", w, strings.TrimSpace(string(data)))
	return w
}
