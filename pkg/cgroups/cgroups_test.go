package cgroups

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/test/testutil"
)

func TestNewRejects(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(empty, []byte("24 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc  string
		cfg   Config
		check func(error) bool
	}{
		{desc: "unknown driver", cfg: Config{Driver: "cgmanager"}, check: errdefs.IsInvalidArgument},
		{desc: "no cgroup mounts", cfg: Config{MountInfo: empty}, check: errdefs.IsFailedPrecondition},
		{desc: "missing mountinfo", cfg: Config{MountInfo: "/nonexistent"}, check: func(err error) bool { return err != nil }},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := New(tc.cfg); !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestHostCgroup creates, limits, measures and removes a real cgroup under
// a test-only parent on this host.
func TestHostCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host cgroup mode: %s", m.Mode())
	parent := fmt.Sprintf("/cricket-test-%d", os.Getpid())
	p, err := ChildPath(Cgroupfs, parent, "sb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Remove(context.Background(), p)
		_ = m.Remove(context.Background(), parent)
	})
	res := &specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000)},
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(128)},
	}
	if err := m.Create(p, res); err != nil {
		t.Fatal(err)
	}
	if !m.Exists(p) {
		t.Fatal("cgroup missing")
	}
	checkHostLimits(t, m, p)
	s, err := m.Stats(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids.Limit != 128 || s.Memory.Limit != 64<<20 {
		t.Fatalf("stats %+v", s)
	}
	checkBusyRemove(t, m, p)
	if err := m.Remove(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(context.Background(), parent); err != nil {
		t.Fatal(err)
	}
	if m.Exists(p) || m.Exists(parent) {
		t.Fatal("cgroup left behind")
	}
}

func checkHostLimits(t *testing.T, m Manager, p string) {
	t.Helper()
	switch mgr := m.(type) {
	case *v1Manager:
		fsPath, _ := m.FSPath(p)
		cpu, _ := mgr.dir("cpu", fsPath)
		mem, _ := mgr.dir("memory", fsPath)
		pids, _ := mgr.dir("pids", fsPath)
		for _, c := range []struct{ dir, file, want string }{
			{cpu, "cpu.shares", "512"}, {cpu, "cpu.cfs_quota_us", "50000"},
			{mem, "memory.limit_in_bytes", strconv.Itoa(64 << 20)}, {pids, "pids.max", "128"},
		} {
			if got := readFile(t, c.dir, c.file); got != c.want {
				t.Errorf("%s = %q, want %q", c.file, got, c.want)
			}
		}
	case *v2Manager:
		d, _ := mgr.dir(p)
		if got := readFile(t, d, "memory.max"); got != strconv.Itoa(64<<20) {
			t.Errorf("memory.max = %q", got)
		}
	}
}

// checkBusyRemove puts a child process of the test in the cgroup: Remove
// must fail rather than kill it, and succeed once it is gone.
func checkBusyRemove(t *testing.T, m Manager, p string) {
	t.Helper()
	v1, ok := m.(*v1Manager)
	if !ok {
		return
	}
	old := removeTimeout
	removeTimeout = 100 * time.Millisecond
	defer func() { removeTimeout = old }()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	fsPath, _ := m.FSPath(p)
	pids, _ := v1.dir("pids", fsPath)
	if err := writeFile(pids, "cgroup.procs", strconv.Itoa(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(context.Background(), p); err == nil {
		t.Fatal("removed a cgroup with a live process")
	}
	if cmd.ProcessState != nil {
		t.Fatal("process died")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}
