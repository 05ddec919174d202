package stats_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

// fakeTree is a fake cgroupfs: a mountinfo file and control files under
// one root, as a kernel would show them.
type fakeTree struct {
	root      string
	mountinfo string
	// dirs maps a controller ("" for cgroup2) to its mount point.
	dirs map[string]string
}

// newFakeTree mounts cgroup2 alone (unified) or cpu,cpuacct, memory, pids
// and blkio hierarchies plus a controller-less cgroup2 (hybrid, like this
// host).
func newFakeTree(t *testing.T, unified bool) *fakeTree {
	t.Helper()
	root := t.TempDir()
	ft := &fakeTree{root: root, dirs: map[string]string{}}
	var mi strings.Builder
	mount := func(id int, dir, fstype, opts string) {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&mi, "%d 25 0:%d / %s rw,nosuid,nodev,noexec,relatime shared:%d - %s %s rw,%s\n", id, id, d, id, fstype, fstype, opts)
	}
	if unified {
		mount(30, "unified", "cgroup2", "nsdelegate")
		ft.dirs[""] = filepath.Join(root, "unified")
	} else {
		for i, c := range []string{"cpu,cpuacct", "memory", "pids", "blkio"} {
			mount(31+i, c, "cgroup", c)
			for _, ctl := range strings.Split(c, ",") {
				ft.dirs[ctl] = filepath.Join(root, c)
			}
		}
		mount(40, "unified", "cgroup2", "nsdelegate")
		ft.dirs["unified"] = filepath.Join(root, "unified")
	}
	fmt.Fprintf(&mi, "24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n")
	ft.mountinfo = filepath.Join(root, "mountinfo")
	write(t, ft.mountinfo, mi.String())
	return ft
}

// cgroup makes the cgroup at path in the controller's hierarchy with the
// given files.
func (ft *fakeTree) cgroup(t *testing.T, controller, path string, files map[string]string) {
	t.Helper()
	d := filepath.Join(ft.dirs[controller], path)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		write(t, filepath.Join(d, name), content)
	}
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// psiFile is a pressure file with 12345 µs of some and 678 µs of full
// stall.
const psiFile = "some avg10=1.50 avg60=0.50 avg300=0.10 total=12345\nfull avg10=0.50 avg60=0.20 avg300=0.00 total=678\n"

// v1Cgroup populates a v1 cgroup: 3 s of CPU, a 20 ms quota per 100 ms,
// 100 MiB used of which 20 MiB inactive file pages, 60 MiB rss, 256 MiB
// limit, 4 tasks of one process (pid), 4 KiB read and 8 KiB written on
// 8:0, and pressure in the hybrid cgroup2 hierarchy.
func (ft *fakeTree) v1Cgroup(t *testing.T, path string, pid int) {
	ft.cgroup(t, "cpu", path, map[string]string{
		"cpuacct.usage": "3000000000\n", "cpuacct.stat": "user 200\nsystem 100\n",
		"cpu.stat":   "nr_periods 10\nnr_throttled 2\nthrottled_time 2500000000\n",
		"cpu.shares": "1024\n", "cpu.cfs_quota_us": "20000\n", "cpu.cfs_period_us": "100000\n",
	})
	ft.cgroup(t, "memory", path, map[string]string{
		"memory.usage_in_bytes": "104857600\n", "memory.limit_in_bytes": "268435456\n",
		"memory.stat":        "cache 0\nrss 0\ntotal_cache 41943040\ntotal_rss 62914560\ntotal_inactive_file 20971520\ntotal_pgfault 7\ntotal_pgmajfault 1\n",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
	})
	ft.cgroup(t, "pids", path, map[string]string{"pids.current": "4\n", "pids.max": "max\n", "cgroup.procs": fmt.Sprintln(pid)})
	ft.cgroup(t, "blkio", path, map[string]string{
		"blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n",
		"blkio.throttle.io_serviced_recursive":      "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
	})
	ft.cgroup(t, "unified", path, map[string]string{"cpu.pressure": psiFile, "memory.pressure": psiFile, "io.pressure": psiFile})
}

// v2Cgroup populates a v2 cgroup with the same figures as v1Cgroup.
func (ft *fakeTree) v2Cgroup(t *testing.T, path string, pid int) {
	psi := psiFile
	ft.cgroup(t, "", path, map[string]string{
		"cpu.stat":   "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 2500000\n",
		"cpu.weight": "100\n", "cpu.max": "20000 100000\n", "cgroup.procs": fmt.Sprintln(pid),
		"io.stat":        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
		"memory.current": "104857600\n", "memory.max": "268435456\n",
		"memory.stat":   "anon 62914560\nfile 41943040\ninactive_file 20971520\npgfault 7\npgmajfault 1\n",
		"memory.events": "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n",
		"pids.current":  "4\n", "pids.max": "max\n",
		"cpu.pressure": psi, "memory.pressure": psi, "io.pressure": psi,
	})
}
