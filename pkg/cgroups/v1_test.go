package cgroups

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func u64(v uint64) *uint64 { return &v }
func i64(v int64) *int64   { return &v }

func TestV1CreateApply(t *testing.T) {
	tests := []struct {
		desc    string
		res     *specs.LinuxResources
		want    map[string]string // hierarchy/file -> content
		wantErr bool
	}{
		{desc: "no resources", want: map[string]string{"cpuset/cpuset.cpus": "0-1", "cpuset/cpuset.mems": "0"}},
		{desc: "cpu", res: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(200000), Cpus: "1"}},
			want: map[string]string{"cpu,cpuacct/cpu.shares": "512", "cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "200000", "cpuset/cpuset.cpus": "1", "cpuset/cpuset.mems": "0"}},
		{desc: "memory with swap", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20), Reservation: i64(32 << 20)}},
			want: map[string]string{"memory/memory.limit_in_bytes": "67108864", "memory/memory.memsw.limit_in_bytes": "134217728", "memory/memory.soft_limit_in_bytes": "33554432"}},
		{desc: "memory unlimited sets swap unlimited", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			want: map[string]string{"memory/memory.limit_in_bytes": "-1", "memory/memory.memsw.limit_in_bytes": "-1"}},
		{desc: "pids and hugetlb", res: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}, HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			want: map[string]string{"pids/pids.max": "100", "hugetlb/hugetlb.2MB.limit_in_bytes": "4194304"}},
		{desc: "pids unlimited", res: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, want: map[string]string{"pids/pids.max": "max"}},
		{desc: "unified refused", res: &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m, root := fakeV1(t, false)
			p := "/kubepods/pod1/sb"
			err := m.Create(p, tc.res)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				if m.Exists(p) {
					t.Fatal("failed Create left the cgroup")
				}
				if _, err := os.Stat(filepath.Join(root, "memory", "kubepods")); !os.IsNotExist(err) {
					t.Fatal("failed Create left parents it made")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"cpu,cpuacct", "cpuset", "memory", "pids", "hugetlb", "systemd"} {
				if _, err := os.Stat(filepath.Join(root, h, p)); err != nil {
					t.Fatalf("missing in %s: %v", h, err)
				}
			}
			for f, want := range tc.want {
				h, name := filepath.Split(f)
				if got := readFile(t, filepath.Join(root, h, p), name); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
			// cpuset is inherited on every level made, not only the leaf.
			if got := readFile(t, filepath.Join(root, "cpuset", "kubepods"), "cpuset.cpus"); got != "0-1" {
				t.Errorf("parent cpuset.cpus = %q", got)
			}
		})
	}
}

func TestV1MemoryLowered(t *testing.T) {
	m, root := fakeV1(t, false)
	p := "/sb"
	if err := m.Create(p, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200), Swap: i64(400)}}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "memory", p)
	if err := m.Apply(p, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(150)}}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, dir, "memory.limit_in_bytes") != "100" || readFile(t, dir, "memory.memsw.limit_in_bytes") != "150" {
		t.Fatal("limits not applied")
	}
}

func TestV1NoSwapAccounting(t *testing.T) {
	m, root := fakeV1(t, false)
	p := "/sb"
	if err := m.Create(p, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "memory", p, "memory.memsw.limit_in_bytes")); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(p, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(100)}}); err != nil {
		t.Fatalf("swap without accounting: %v", err)
	}
}

func TestV1Stats(t *testing.T) {
	m, root := fakeV1(t, true)
	if m.Mode() != Hybrid {
		t.Fatalf("mode %v", m.Mode())
	}
	p := "/sb"
	if err := m.Create(p, nil); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, filepath.Join(root, "cpu,cpuacct", p), map[string]string{
		"cpuacct.usage": "123456789\n", "cpuacct.stat": "user 10\nsystem 5\n",
		"cpu.stat": "nr_periods 7\nnr_throttled 2\nthrottled_time 3000\n",
	})
	writeFiles(t, filepath.Join(root, "memory", p), map[string]string{
		"memory.usage_in_bytes": "1000000\n", "memory.limit_in_bytes": "2000000\n",
		"memory.stat": "cache 5\nrss 6\ntotal_cache 300000\ntotal_rss 600000\ntotal_inactive_file 250000\ntotal_pgfault 42\ntotal_pgmajfault 3\n",
	})
	writeFiles(t, filepath.Join(root, "pids", p), map[string]string{"pids.current": "4\n", "pids.max": "100\n"})
	s, err := m.Stats(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		CPU:    CPUStats{UsageNanos: 123456789, UserNanos: 100000000, SystemNanos: 50000000, Periods: 7, ThrottledPeriods: 2, ThrottledNanos: 3000},
		Memory: MemoryStats{Usage: 1000000, WorkingSet: 750000, RSS: 600000, Cache: 300000, PageFaults: 42, MajorPageFaults: 3, Limit: 2000000},
		Pids:   PidsStats{Current: 4, Limit: 100},
	}
	if *s != want {
		t.Fatalf("stats\n got %+v\nwant %+v", *s, want)
	}
}

func TestV1StatsUnlimited(t *testing.T) {
	m, _ := fakeV1(t, false)
	if err := m.Create("/sb", nil); err != nil {
		t.Fatal(err)
	}
	s, err := m.Stats("/sb")
	if err != nil || s.Memory.Limit != 0 || s.Pids.Limit != 0 {
		t.Fatalf("got %+v, %v", s, err)
	}
}

func TestV1Remove(t *testing.T) {
	m, root := fakeV1(t, true)
	p := "/parent/sb"
	if err := m.Create(p, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if m.Exists(p) {
		t.Fatal("still exists")
	}
	for _, h := range []string{"memory", "unified"} {
		if _, err := os.Stat(filepath.Join(root, h, p)); !os.IsNotExist(err) {
			t.Fatalf("%s left: %v", h, err)
		}
		if _, err := os.Stat(filepath.Join(root, h, "parent")); err != nil {
			t.Fatalf("parent removed from %s", h)
		}
	}
	if err := m.Remove(context.Background(), p); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}
