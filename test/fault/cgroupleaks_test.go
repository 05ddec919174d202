package fault

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cgroupLayout says where the daemon under test puts pod and container
// cgroups on this host, so that the leak checks look where they are: the
// cgroup v1 hierarchies (one per controller, plus the named and unified
// ones of a hybrid host) or the one cgroup v2 hierarchy, named by the
// cgroupfs driver (/cricket/pod-<pod ID>/<container ID>, pkg/cgroups
// ChildPath and the daemon's podCgroups) or the systemd driver (the pod's
// slice, cricket.slice by default, holding one cricket-<container ID>.scope
// per container: pkg/cgroups SystemdFSPath).
type cgroupLayout struct {
	root    string // where cgroupfs is mounted, /sys/fs/cgroup
	unified bool   // cgroup v2 only: root is the one hierarchy
	systemd bool   // the daemon's cgroup_driver is systemd
	// hierarchies are the roots of the hierarchies to look in.
	hierarchies []string
}

// The daemon's default cgroup parents and scope prefix (pkg/cgroups
// naming.go), which the workload's pods get: they set no cgroup_parent.
const (
	cgroupfsParent = "cricket"
	systemdSlice   = "cricket.slice"
	systemdPrefix  = "cricket-"
)

// detectCgroupLayout reads the tree under root: a cgroup.controllers file
// at the top is a cgroup v2 (unified) host; otherwise each directory
// holding a cgroup.procs file is a v1 hierarchy (hybrid hosts add the
// unified one among them, and the daemon's v1 manager may create its
// cgroups there too). driver is the daemon's cgroup_driver.
func detectCgroupLayout(root, driver string) (cgroupLayout, error) {
	l := cgroupLayout{root: root}
	switch driver {
	case "", "cgroupfs":
	case "systemd":
		l.systemd = true
	default:
		return l, fmt.Errorf("cgroup driver %q: want cgroupfs or systemd", driver)
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		l.unified, l.hierarchies = true, []string{root}
		return l, nil
	}
	procs, _ := filepath.Glob(filepath.Join(root, "*", "cgroup.procs"))
	for _, p := range procs {
		l.hierarchies = append(l.hierarchies, filepath.Dir(p))
	}
	if len(l.hierarchies) == 0 {
		return l, fmt.Errorf("no cgroup hierarchy under %s: neither cgroup.controllers (v2) nor */cgroup.procs (v1)", root)
	}
	slices.Sort(l.hierarchies)
	return l, nil
}

func (l cgroupLayout) String() string {
	v, d := "v1", "cgroupfs"
	if l.unified {
		v = "v2"
	}
	if l.systemd {
		d = "systemd"
	}
	return fmt.Sprintf("cgroup %s at %s, %s driver (%d hierarchies)", v, l.root, d, len(l.hierarchies))
}

// leaks lists the cgroups left of the pods and containers whose IDs start
// with one of podPrefixes and ctrPrefixes: with the cgroupfs driver the
// pod's own cgroup (which holds its containers'), with the systemd driver
// each container's scope (the pods share their slice).
func (l cgroupLayout) leaks(podPrefixes, ctrPrefixes []string) []string {
	var patterns []string
	for _, h := range l.hierarchies {
		if l.systemd {
			for _, c := range ctrPrefixes {
				patterns = append(patterns, filepath.Join(h, systemdSlice, systemdPrefix+c+"*.scope"))
			}
			continue
		}
		for _, p := range podPrefixes {
			patterns = append(patterns, filepath.Join(h, cgroupfsParent, "pod-"+p+"*"))
		}
	}
	var out []string
	for _, pat := range patterns {
		dirs, _ := filepath.Glob(pat)
		out = append(out, dirs...)
	}
	return out
}

// containerDirs are the cgroup directories of a container in every
// hierarchy that has one.
func (l cgroupLayout) containerDirs(podID, ctrID string) []string {
	var out []string
	for _, h := range l.hierarchies {
		dir := filepath.Join(h, cgroupfsParent, "pod-"+podID, ctrID)
		if l.systemd {
			dir = filepath.Join(h, systemdSlice, systemdPrefix+ctrID+".scope")
		}
		if _, err := os.Stat(dir); err == nil {
			out = append(out, dir)
		}
	}
	return out
}

// containerProcs lists the live processes (zombies left out: they hold
// nothing and go once reaped) in a container's cgroups and their
// descendants, "pid cmdline" each.
func (l cgroupLayout) containerProcs(podID, ctrID string) []string {
	pids := map[int]bool{}
	for _, dir := range l.containerDirs(podID, ctrID) {
		_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.Name() != "cgroup.procs" {
				return nil
			}
			raw, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(raw)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids[pid] = true
				}
			}
			return nil
		})
	}
	var out []string
	for _, pid := range slices.Sorted(maps.Keys(pids)) {
		proc := filepath.Join("/proc", strconv.Itoa(pid))
		stat, err := os.ReadFile(filepath.Join(proc, "stat"))
		if err != nil || procState(string(stat)) == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(proc, "cmdline"))
		out = append(out, fmt.Sprintf("%d %s", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
	}
	return out
}

// procState is the state letter of a /proc/<pid>/stat line, "" if it has
// none: the field after the command, which is in parentheses and may hold
// anything.
func procState(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(stat[i+1:])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// procMarkers are what a line of /proc/<pid>/cgroup holds when the process
// is in the cgroup of one of the pods or containers.
func (l cgroupLayout) procMarkers(podPrefixes, ctrPrefixes []string) []string {
	var out []string
	if l.systemd {
		for _, c := range ctrPrefixes {
			out = append(out, "/"+systemdSlice+"/"+systemdPrefix+c)
		}
		return out
	}
	for _, p := range podPrefixes {
		out = append(out, "/"+cgroupfsParent+"/pod-"+p)
	}
	return out
}

// TestCgroupLayout: on fake cgroup trees of a v1 host (hybrid: controller
// hierarchies, the named systemd one and the controller-less unified one),
// a v2 host, and each with the systemd driver, the layout is detected,
// the leak glob finds the leaked pod or container cgroups and nothing of
// other pods, and a container's live processes are listed from its cgroup.
func TestCgroupLayout(t *testing.T) {
	pod, other := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	ctr, otherCtr := strings.Repeat("c3", 32), strings.Repeat("d4", 32)
	self := strconv.Itoa(os.Getpid())
	cases := []struct {
		desc, driver string
		dirs         []string // made under the root; a dir ending in "+" gets our pid in cgroup.procs
		files        []string
		wantUnified  bool
		wantHier     []string
		wantLeaks    []string
		wantProcsIn  int // hierarchies with the container's cgroup
	}{
		{
			desc: "v1 hybrid, cgroupfs", driver: "cgroupfs",
			dirs: []string{
				"memory/cricket/pod-" + pod + "/" + ctr + "+", "pids/cricket/pod-" + pod + "/" + ctr,
				"unified/cricket/pod-" + pod, "systemd/cricket", "pids/kubepods/pod-" + pod,
			},
			files:       []string{"memory/cgroup.procs", "pids/cgroup.procs", "unified/cgroup.procs", "unified/cgroup.controllers", "systemd/cgroup.procs"},
			wantHier:    []string{"memory", "pids", "systemd", "unified"},
			wantLeaks:   []string{"memory/cricket/pod-" + pod, "pids/cricket/pod-" + pod, "unified/cricket/pod-" + pod},
			wantProcsIn: 2,
		},
		{
			desc: "v2, cgroupfs", driver: "",
			dirs:        []string{"cricket/pod-" + pod + "/" + ctr + "+", "cricket/pod-" + other, "system.slice"},
			files:       []string{"cgroup.controllers", "cgroup.procs"},
			wantUnified: true, wantHier: []string{""},
			wantLeaks:   []string{"cricket/pod-" + pod},
			wantProcsIn: 1,
		},
		{
			desc: "v2, systemd", driver: "systemd",
			dirs: []string{
				systemdSlice + "/" + systemdPrefix + ctr + ".scope+", systemdSlice + "/" + systemdPrefix + otherCtr + ".scope",
				"cricket/pod-" + pod, "system.slice/cricket.service",
			},
			files:       []string{"cgroup.controllers", "cgroup.procs"},
			wantUnified: true, wantHier: []string{""},
			wantLeaks:   []string{systemdSlice + "/" + systemdPrefix + ctr + ".scope"},
			wantProcsIn: 1,
		},
		{
			desc: "v1, systemd", driver: "systemd",
			dirs:        []string{"cpu/" + systemdSlice + "/" + systemdPrefix + ctr + ".scope+", "cpu/" + systemdSlice + "/" + systemdPrefix + otherCtr + ".scope"},
			files:       []string{"cpu/cgroup.procs"},
			wantHier:    []string{"cpu"},
			wantLeaks:   []string{"cpu/" + systemdSlice + "/" + systemdPrefix + ctr + ".scope"},
			wantProcsIn: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tc.dirs {
				d, withSelf := strings.CutSuffix(d, "+")
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
				procs := ""
				if withSelf {
					procs = self + "\n"
				}
				if err := os.WriteFile(filepath.Join(root, d, "cgroup.procs"), []byte(procs), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l, err := detectCgroupLayout(root, tc.driver)
			if err != nil {
				t.Fatal(err)
			}
			if l.unified != tc.wantUnified {
				t.Errorf("unified = %v, want %v (%s)", l.unified, tc.wantUnified, l)
			}
			var hier []string
			for _, h := range l.hierarchies {
				rel, _ := filepath.Rel(root, h)
				hier = append(hier, strings.TrimPrefix(rel, "."))
			}
			if !slices.Equal(hier, tc.wantHier) {
				t.Errorf("hierarchies %q, want %q", hier, tc.wantHier)
			}
			var leaks []string
			for _, d := range l.leaks([]string{pod[:16]}, []string{ctr[:16]}) {
				rel, _ := filepath.Rel(root, d)
				leaks = append(leaks, rel)
			}
			slices.Sort(leaks)
			if !slices.Equal(leaks, tc.wantLeaks) {
				t.Errorf("leaks %q, want %q", leaks, tc.wantLeaks)
			}
			if got := len(l.containerDirs(pod, ctr)); got != tc.wantProcsIn {
				t.Errorf("container cgroup in %d hierarchies, want %d", got, tc.wantProcsIn)
			}
			procs := l.containerProcs(pod, ctr)
			if len(procs) != 1 || !strings.HasPrefix(procs[0], self+" ") {
				t.Errorf("container processes %q, want this test's (%s)", procs, self)
			}
			if got := l.containerProcs(other, otherCtr+"x"); len(got) != 0 {
				t.Errorf("processes of a container without a cgroup: %q", got)
			}
		})
	}
	if _, err := detectCgroupLayout(t.TempDir(), ""); err == nil {
		t.Error("an empty tree has a layout")
	}
	if _, err := detectCgroupLayout(t.TempDir(), "cgroupv3"); err == nil {
		t.Error("an unknown driver is accepted")
	}
}

// TestProcMarkers: a /proc/<pid>/cgroup line names the pod's own cgroup
// under the cgroupfs driver and the container's scope under systemd.
func TestProcMarkers(t *testing.T) {
	fs := cgroupLayout{}
	sd := cgroupLayout{systemd: true}
	line := func(l cgroupLayout, s string) bool {
		for _, m := range l.procMarkers([]string{"aaaa"}, []string{"cccc"}) {
			if strings.Contains(s, m) {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		desc string
		l    cgroupLayout
		line string
		want bool
	}{
		{desc: "cgroupfs v1 container", l: fs, line: "4:pids:/cricket/pod-aaaa1234/cccc", want: true},
		{desc: "cgroupfs v2 pod", l: fs, line: "0::/cricket/pod-aaaa1234", want: true},
		{desc: "cgroupfs other pod", l: fs, line: "0::/cricket/pod-bbbb", want: false},
		{desc: "systemd scope", l: sd, line: "0::/cricket.slice/cricket-cccc99.scope", want: true},
		{desc: "systemd other scope", l: sd, line: "0::/cricket.slice/cricket-dddd.scope", want: false},
	} {
		if got := line(tc.l, tc.line); got != tc.want {
			t.Errorf("%s: %q matched %v, want %v", tc.desc, tc.line, got, tc.want)
		}
	}
}
