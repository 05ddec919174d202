package cgroups

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// v1Busy are the files of a v1 cgroup that has run something, per
// hierarchy directory.
var v1Busy = map[string]map[string]string{
	"cpu,cpuacct": {
		"cpuacct.usage": "123456789\n", "cpuacct.stat": "user 10\nsystem 5\n",
		"cpu.stat":   "nr_periods 7\nnr_throttled 2\nthrottled_time 3000\n",
		"cpu.shares": "512\n", "cpu.cfs_quota_us": "20000\n", "cpu.cfs_period_us": "100000\n",
	},
	"memory": {
		"memory.usage_in_bytes": "1000000\n", "memory.limit_in_bytes": "2000000\n",
		"memory.stat": "cache 5\nrss 6\npgfault 40\npgmajfault 2\nmapped_file 9\ntotal_cache 300000\ntotal_rss 600000\n" +
			"total_mapped_file 4096\ntotal_swap 8192\ntotal_inactive_file 250000\ntotal_pgfault 42\ntotal_pgmajfault 3\n",
		"memory.failcnt": "5\n", "memory.max_usage_in_bytes": "1500000\n", "memory.kmem.usage_in_bytes": "65536\n",
		"memory.soft_limit_in_bytes": "1048576\n", "memory.memsw.limit_in_bytes": "3000000\n",
	},
	"pids": {"pids.current": "4\n", "pids.max": "100\n", "cgroup.procs": "10\n12\n"},
	"blkio": {
		"blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n" +
			"253:1 Read 0\n253:1 Write 512\nTotal 12800\n",
		"blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\n253:1 Write 1\nTotal 4\n",
	},
	"hugetlb": {"hugetlb.2MB.usage_in_bytes": "2097152\n", "hugetlb.2MB.max_usage_in_bytes": "4194304\n"},
	"unified": {
		"cpu.pressure":    "some avg10=0.00 avg60=0.00 avg300=0.00 total=2000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n",
		"memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=30\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=20\n",
		"io.pressure":     "some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=4\n",
	},
}

var v1BusyStats = Stats{
	CPU: CPUStats{
		UsageNanos: 123456789, UserNanos: 100000000, SystemNanos: 50000000, Periods: 7, ThrottledPeriods: 2, ThrottledNanos: 3000,
		Shares: 512, Quota: 20000, Period: 100000,
	},
	Memory: MemoryStats{
		Usage: 1000000, WorkingSet: 750000, RSS: 600000, Cache: 300000, PageFaults: 42, MajorPageFaults: 3,
		OwnPageFaults: 40, OwnMajorPageFaults: 2, MappedFile: 4096, Swap: 8192, KernelUsage: 65536, MaxUsage: 1500000,
		Failcnt: 5, Limit: 2000000, Reservation: 1048576, SwapLimit: 3000000,
	},
	Pids: PidsStats{Current: 4, Limit: 100},
	IO: []IODevice{
		{Major: 8, Minor: 0, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2},
		{Major: 253, Minor: 1, WriteBytes: 512, Writes: 1},
	},
	Hugetlb: map[string]HugetlbStats{"2MB": {Usage: 2097152, MaxUsage: 4194304}},
	PSI: &PSIStats{
		CPU:    PSI{Some: PSIData{Total: 2000000}, Full: PSIData{Total: 1000000}},
		Memory: PSI{Some: PSIData{Total: 30}, Full: PSIData{Total: 20}},
		IO:     PSI{Some: PSIData{Total: 5}, Full: PSIData{Total: 4}},
	},
}

func TestV1Stats(t *testing.T) {
	// busyWithout is v1BusyStats with edit applied.
	busyWithout := func(edit func(*Stats)) Stats {
		s := v1BusyStats
		s.PSI = &PSIStats{}
		*s.PSI = *v1BusyStats.PSI
		edit(&s)
		return s
	}
	tests := []struct {
		desc   string
		hybrid bool
		// files are written over the fresh cgroup's; remove are
		// removed after.
		files  map[string]map[string]string
		remove map[string][]string
		want   Stats
	}{
		{
			desc: "fresh cgroup: no limits, no quota, nothing counted", hybrid: false,
			want: Stats{
				CPU:     CPUStats{Shares: 1024, Period: 100000},
				Hugetlb: map[string]HugetlbStats{"2MB": {}},
			},
		},
		{desc: "busy cgroup on a hybrid host", hybrid: true, files: v1Busy, want: v1BusyStats},
		{
			desc: "legacy host: no pressure", files: v1Busy,
			want: busyWithout(func(s *Stats) { s.PSI = nil }),
		},
		{
			desc: "no swap accounting, no kmem, no failcnt", hybrid: true, files: v1Busy,
			remove: map[string][]string{"memory": {"memory.memsw.limit_in_bytes", "memory.kmem.usage_in_bytes", "memory.failcnt"}},
			want: busyWithout(func(s *Stats) {
				s.Memory.SwapLimit, s.Memory.KernelUsage, s.Memory.Failcnt = 0, 0, 0
			}),
		},
		{
			desc: "a scheduler's counters win over the throttle layer's", hybrid: true,
			files: mergeFiles(v1Busy, map[string]map[string]string{"blkio": {
				"blkio.bfq.io_service_bytes_recursive": "8:16 Read 100\n8:16 Write 200\nTotal 300\n",
				"blkio.bfq.io_serviced_recursive":      "8:16 Read 3\n8:16 Write 4\nTotal 7\n",
			}}),
			want: busyWithout(func(s *Stats) {
				s.IO = []IODevice{{Major: 8, Minor: 16, ReadBytes: 100, WriteBytes: 200, Reads: 3, Writes: 4}}
			}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m, root := fakeV1(t, tc.hybrid)
			p := "/sb"
			if err := m.Create(p, nil); err != nil {
				t.Fatal(err)
			}
			for dir, files := range tc.files {
				d := filepath.Join(root, dir, p)
				if _, err := os.Stat(d); err == nil {
					writeFiles(t, d, files)
				}
			}
			for dir, names := range tc.remove {
				for _, n := range names {
					if err := os.Remove(filepath.Join(root, dir, p, n)); err != nil {
						t.Fatal(err)
					}
				}
			}
			s, err := m.Stats(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*s, tc.want) {
				t.Fatalf("stats\n got %+v\nwant %+v", *s, tc.want)
			}
		})
	}
}

// mergeFiles returns base with over's files written over it.
func mergeFiles(base, over map[string]map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range []map[string]map[string]string{base, over} {
		for dir, files := range m {
			if out[dir] == nil {
				out[dir] = map[string]string{}
			}
			maps.Copy(out[dir], files)
		}
	}
	return out
}

func TestV1StatsUnlimited(t *testing.T) {
	m, _ := fakeV1(t, false)
	if err := m.Create("/sb", nil); err != nil {
		t.Fatal(err)
	}
	s, err := m.Stats("/sb")
	if err != nil || s.Memory.Limit != 0 || s.Pids.Limit != 0 || s.Memory.SwapLimit != 0 || s.Memory.Reservation != 0 {
		t.Fatalf("got %+v, %v", s, err)
	}
}

func TestV1Procs(t *testing.T) {
	tests := []struct {
		desc    string
		procs   map[string]string
		want    []int
		wantErr error
	}{
		{desc: "from the pids hierarchy", procs: map[string]string{"pids": "10\n12\n", "cpu,cpuacct": "99\n"}, want: []int{10, 12}},
		{desc: "empty cgroup", procs: map[string]string{"pids": ""}},
		{desc: "cgroup gone", wantErr: errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m, root := fakeV1(t, true)
			if tc.wantErr == nil {
				if err := m.Create("/sb", nil); err != nil {
					t.Fatal(err)
				}
			}
			for dir, content := range tc.procs {
				writeFiles(t, filepath.Join(root, dir, "sb"), map[string]string{"cgroup.procs": content})
			}
			got, err := m.Procs("/sb")
			if !errors.Is(err, tc.wantErr) || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
		})
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
