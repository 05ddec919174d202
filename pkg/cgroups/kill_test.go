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

// TestKillTreeThawsFrozen: a cgroup left frozen (cgroup v1's freezer or
// v2's cgroup.freeze) holds its SIGKILLed processes until it is thawed.
// A shim killed between libcontainer's freeze and thaw, as it killed what
// an exited init had left, leaves its container's cgroup so; the daemon's
// kill of that cgroup must thaw it or wait in vain (seen on this kernel: a
// SIGKILLed task of a frozen v1 cgroup stays in D state).
func TestKillTreeThawsFrozen(t *testing.T) {
	old := killTimeout
	killTimeout = 10 * time.Second // long: a starved test must not fail for time
	defer func() { killTimeout = old }()
	cases := []struct {
		desc, file, frozen, thawed string
	}{
		{desc: "v1 freezer", file: "freezer.state", frozen: "FROZEN\n", thawed: "THAWED"},
		{desc: "v1 freezer freezing", file: "freezer.state", frozen: "FREEZING\n", thawed: "THAWED"},
		{desc: "v2 cgroup.freeze", file: "cgroup.freeze", frozen: "1\n", thawed: "0"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ctr := t.TempDir()
			nested := filepath.Join(ctr, "nested")
			if err := os.Mkdir(nested, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFiles(t, ctr, map[string]string{"cgroup.procs": "10\n", tc.file: tc.frozen})
			writeFiles(t, nested, map[string]string{"cgroup.procs": "11\n", tc.file: tc.frozen})
			// The kernel: a killed process leaves its cgroup once that is
			// thawed; SIGKILL is pending until then.
			killed := map[int]bool{}
			kill := func(pid int) error {
				killed[pid] = true
				for dir, p := range map[string]int{ctr: 10, nested: 11} {
					if killed[p] && strings.TrimSpace(readFile(t, dir, tc.file)) == tc.thawed {
						writeFiles(t, dir, map[string]string{"cgroup.procs": ""})
					}
				}
				return nil
			}
			if err := killTree(context.Background(), []string{ctr}, kill); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{ctr, nested} {
				if got := strings.TrimSpace(readFile(t, d, tc.file)); got != tc.thawed {
					t.Errorf("%s of %s = %q, want %q", tc.file, d, got, tc.thawed)
				}
			}
		})
	}
}

// TestHostKillFrozen: Kill ends the processes of a cgroup left frozen
// (a shim killed between libcontainer's freeze and thaw), which on this
// kernel's cgroup v1 would stay, SIGKILLed, until thawed.
func TestHostKillFrozen(t *testing.T) {
	testutil.RequireRoot(t)
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctr := fmt.Sprintf("/cricket-test-frozen-%d", os.Getpid())
	t.Cleanup(func() {
		_ = thawTree(hostDirs(m, ctr))
		_ = m.Kill(context.Background(), ctr)
		_ = m.Remove(context.Background(), ctr)
	})
	if err := m.Create(ctr, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	froze := false
	for _, d := range hostDirs(m, ctr) {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(cmd.Process.Pid)); err != nil {
			t.Fatalf("move process into %s: %v", d, err)
		}
	}
	for _, d := range hostDirs(m, ctr) {
		for name, frozen := range map[string]string{"freezer.state": "FROZEN", "cgroup.freeze": "1"} {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				if err := writeFile(d, name, frozen); err != nil {
					t.Fatal(err)
				}
				froze = true
			}
		}
	}
	if !froze {
		t.Skip("no freezer controller on this host")
	}
	if err := m.Kill(context.Background(), ctr); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("process still alive after Kill")
	}
}

// hostDirs are the directories of cgroup p in every hierarchy.
func hostDirs(m Manager, p string) []string {
	switch mgr := m.(type) {
	case *v1Manager:
		dirs, _ := mgr.hierarchyDirs(p)
		return dirs
	case *v2Manager:
		d, _ := mgr.dir(p)
		return []string{d}
	}
	return nil
}
