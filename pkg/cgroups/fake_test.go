package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fake cgroupfs trees: directories and control files with the contents a
// kernel shows for a fresh cgroup, and a mountinfo file pointing at them.

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// v1Files are a fresh v1 cgroup's files per hierarchy directory name.
var v1Files = map[string]map[string]string{
	"cpu,cpuacct": {
		"cpu.shares": "1024\n", "cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n",
		"cpu.stat":      "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
		"cpuacct.usage": "0\n", "cpuacct.stat": "user 0\nsystem 0\n",
	},
	"cpuset": {"cpuset.cpus": "\n", "cpuset.mems": "\n"},
	"memory": {
		"memory.limit_in_bytes": "9223372036854771712\n", "memory.memsw.limit_in_bytes": "9223372036854771712\n",
		"memory.soft_limit_in_bytes": "9223372036854771712\n", "memory.usage_in_bytes": "0\n",
		"memory.failcnt": "0\n", "memory.max_usage_in_bytes": "0\n", "memory.kmem.usage_in_bytes": "0\n",
		"memory.stat": "cache 0\nrss 0\ntotal_cache 0\ntotal_rss 0\ntotal_inactive_file 0\ntotal_pgfault 0\ntotal_pgmajfault 0\n",
	},
	"pids": {"pids.max": "max\n", "pids.current": "0\n", "cgroup.procs": ""},
	"blkio": {
		"blkio.throttle.io_service_bytes_recursive": "Total 0\n", "blkio.throttle.io_serviced_recursive": "Total 0\n",
		"blkio.bfq.io_service_bytes_recursive": "Total 0\n", "blkio.bfq.io_serviced_recursive": "Total 0\n",
	},
	"hugetlb": {
		"hugetlb.2MB.limit_in_bytes": "9223372036854771712\n", "hugetlb.2MB.usage_in_bytes": "0\n",
		"hugetlb.2MB.max_usage_in_bytes": "0\n", "hugetlb.2MB.rsvd.usage_in_bytes": "0\n",
	},
	"systemd": {"cgroup.procs": ""},
}

// fakeV1 builds a legacy tree (cpu and cpuacct co-mounted, as on most
// distributions) and a manager over it.
func fakeV1(t testing.TB, hybrid bool) (*v1Manager, string) {
	t.Helper()
	root := t.TempDir()
	var mi strings.Builder
	opts := map[string]string{"cpu,cpuacct": "cpu,cpuacct", "cpuset": "cpuset", "memory": "memory", "pids": "pids", "hugetlb": "hugetlb", "blkio": "blkio", "systemd": "xattr,name=systemd"}
	id := 30
	for dir, o := range opts {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, d, v1Files[dir])
		id++
		fmt.Fprintf(&mi, "%d 25 0:%d / %s rw,nosuid,nodev,noexec,relatime shared:%d - cgroup cgroup rw,%s\n", id, id, d, id, o)
	}
	writeFiles(t, filepath.Join(root, "cpuset"), map[string]string{"cpuset.cpus": "0-1\n", "cpuset.mems": "0\n"})
	if hybrid {
		u := filepath.Join(root, "unified")
		if err := os.MkdirAll(u, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&mi, "99 25 0:99 / %s rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n", u)
	}
	fmt.Fprintf(&mi, "24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n")
	miPath := filepath.Join(t.TempDir(), "mountinfo")
	writeFiles(t, filepath.Dir(miPath), map[string]string{"mountinfo": mi.String()})
	mgr, err := New(Config{MountInfo: miPath})
	if err != nil {
		t.Fatal(err)
	}
	m := mgr.(*v1Manager)
	m.mkdirHook = func(dir string) error {
		rel, _ := filepath.Rel(root, dir)
		writeFiles(t, dir, v1Files[strings.Split(rel, string(filepath.Separator))[0]])
		return nil
	}
	m.rmdir = os.RemoveAll
	return m, root
}

// v2Files are a fresh v2 cgroup's files with every controller enabled.
var v2Files = map[string]string{
	"cgroup.controllers": "", "cgroup.subtree_control": "", "cgroup.procs": "",
	"cpu.weight": "100\n", "cpu.max": "max 100000\n",
	"cpu.stat":    "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
	"cpuset.cpus": "\n", "cpuset.mems": "\n",
	"memory.max": "max\n", "memory.swap.max": "max\n", "memory.low": "0\n", "memory.high": "max\n",
	"memory.current": "0\n", "memory.stat": "anon 0\nfile 0\ninactive_file 0\npgfault 0\npgmajfault 0\n",
	"memory.swap.current": "0\n", "memory.peak": "0\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
	"pids.max": "max\n", "pids.current": "0\n", "hugetlb.2MB.max": "max\n", "hugetlb.2MB.current": "0\n",
	"hugetlb.2MB.rsvd.current": "0\n", "io.stat": "",
	"cpu.pressure":    "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
	"memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
	"io.pressure":     "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
}

// fakeV2 builds a unified tree whose root delegates every controller.
func fakeV2(t testing.TB) (*v2Manager, string) {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cgroup.controllers":     "cpuset cpu io memory hugetlb pids rdma misc\n",
		"cgroup.subtree_control": "cpuset cpu io memory hugetlb pids\n",
	})
	miPath := filepath.Join(t.TempDir(), "mountinfo")
	writeFiles(t, filepath.Dir(miPath), map[string]string{"mountinfo": "24 1 8:1 / / rw - ext4 /dev/sda1 rw\n" +
		"35 24 0:30 / " + root + " rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"})
	mgr, err := New(Config{MountInfo: miPath})
	if err != nil {
		t.Fatal(err)
	}
	m := mgr.(*v2Manager)
	m.mkdirHook = func(dir string) error {
		writeFiles(t, dir, v2Files)
		// The kernel lists as available what the parent delegates.
		parent := readFile(t, filepath.Dir(dir), "cgroup.subtree_control")
		writeFiles(t, dir, map[string]string{"cgroup.controllers": strings.NewReplacer("+", "").Replace(parent)})
		return nil
	}
	m.rmdir = os.RemoveAll
	return m, root
}
