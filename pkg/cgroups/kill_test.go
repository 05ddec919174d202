package cgroups

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/test/testutil"
)

// kernelRmdir plays the kernel's rmdir on a fake tree: a cgroup with a
// child cgroup or a process is busy.
func kernelRmdir(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return unix.ENOENT
	}
	for _, e := range entries {
		if e.IsDir() {
			return unix.EBUSY
		}
	}
	if procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); strings.TrimSpace(string(procs)) != "" {
		return unix.EBUSY
	}
	return os.RemoveAll(dir)
}

// TestRemoveTreeChildrenFirst: a container cgroup left inside its pod's
// (its runtime died before removing it) no longer keeps the pod's.
func TestRemoveTreeChildrenFirst(t *testing.T) {
	old := removeTimeout
	removeTimeout = 50 * time.Millisecond
	defer func() { removeTimeout = old }()
	cases := []struct {
		desc    string
		procsIn string // a dir under the pod holding a process, or ""
		wantErr bool
	}{
		{desc: "empty children are removed first"},
		{desc: "a child with a process keeps everything", procsIn: "ctr1", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			pod := filepath.Join(t.TempDir(), "pod")
			for _, d := range []string{"ctr1", "ctr2/nested"} {
				if err := os.MkdirAll(filepath.Join(pod, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.procsIn != "" {
				writeFiles(t, filepath.Join(pod, tc.procsIn), map[string]string{"cgroup.procs": "42\n"})
			}
			err := removeTree(context.Background(), pod, kernelRmdir)
			if (err != nil) != tc.wantErr {
				t.Fatalf("removeTree: %v, want error %v", err, tc.wantErr)
			}
			if _, statErr := os.Stat(pod); (statErr == nil) != tc.wantErr {
				t.Errorf("pod cgroup exists = %v after removeTree (%v)", statErr == nil, err)
			}
		})
	}
}

// TestKillTree kills the processes of a cgroup and its children until
// their cgroup.procs are empty.
func TestKillTree(t *testing.T) {
	pod := filepath.Join(t.TempDir(), "pod")
	if err := os.MkdirAll(filepath.Join(pod, "ctr"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, pod, map[string]string{"cgroup.procs": "10\n"})
	writeFiles(t, filepath.Join(pod, "ctr"), map[string]string{"cgroup.procs": "11\n12\n"})
	var killed []int
	kill := func(pid int) error {
		killed = append(killed, pid)
		// The killed process leaves its cgroup.
		for _, d := range []string{pod, filepath.Join(pod, "ctr")} {
			raw, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			var keep []string
			for _, f := range strings.Fields(string(raw)) {
				if f != strconv.Itoa(pid) {
					keep = append(keep, f)
				}
			}
			writeFiles(t, d, map[string]string{"cgroup.procs": strings.Join(keep, "\n")})
		}
		return nil
	}
	if err := killTree(context.Background(), []string{pod}, kill); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(killed) != "[10 11 12]" {
		t.Errorf("killed %v, want [10 11 12]", killed)
	}
	if left := procsUnder([]string{pod}); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

// TestHostKillThenRemove: a pod cgroup whose container cgroup still holds
// a process that outlived its monitor is emptied by Kill and then removed
// with its child by Remove.
func TestHostKillThenRemove(t *testing.T) {
	testutil.RequireRoot(t)
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	pod := fmt.Sprintf("/cricket-test-kill-%d", os.Getpid())
	ctr, err := ChildPath(Cgroupfs, pod, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Kill(context.Background(), pod); _ = m.Remove(context.Background(), pod) })
	if err := m.Create(ctr, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	fsPath, _ := m.FSPath(ctr)
	var dirs []string
	switch mgr := m.(type) {
	case *v1Manager:
		dirs, _ = mgr.hierarchyDirs(ctr)
	case *v2Manager:
		d, _ := mgr.dir(ctr)
		dirs = []string{d}
	}
	for _, d := range dirs {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(cmd.Process.Pid)); err != nil {
			t.Fatalf("move process into %s (%s): %v", d, fsPath, err)
		}
	}
	if err := m.Remove(context.Background(), pod); err == nil {
		t.Fatal("removed a pod cgroup whose child holds a live process")
	}
	if err := m.Kill(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("process still alive after Kill")
	}
	if err := m.Remove(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if m.Exists(pod) || m.Exists(ctr) {
		t.Fatal("cgroup left behind")
	}
}
