package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestV2CreateApply(t *testing.T) {
	tests := []struct {
		desc    string
		res     *specs.LinuxResources
		want    map[string]string
		wantErr bool
	}{
		{desc: "no resources", want: map[string]string{"cpu.max": "max 100000", "memory.max": "max"}},
		{desc: "cpu", res: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Cpus: "0", Mems: "0"}},
			want: map[string]string{"cpu.weight": "100", "cpu.max": "50000 100000", "cpuset.cpus": "0", "cpuset.mems": "0"}},
		{desc: "quota unlimited with period", res: &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1), Period: u64(50000)}},
			want: map[string]string{"cpu.max": "max 50000"}},
		{desc: "memory and swap", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(150 << 20), Reservation: i64(10 << 20)}},
			want: map[string]string{"memory.max": "104857600", "memory.swap.max": "52428800", "memory.low": "10485760"}},
		{desc: "memory unlimited", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			want: map[string]string{"memory.max": "max", "memory.swap.max": "max"}},
		{desc: "pids hugetlb unified", res: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(64)}, HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}}, Unified: map[string]string{"memory.high": "1000000"}},
			want: map[string]string{"pids.max": "64", "hugetlb.2MB.max": "2097152", "memory.high": "1000000"}},
		{desc: "unified key escapes", res: &specs.LinuxResources{Unified: map[string]string{"../x": "1"}}, wantErr: true},
		{desc: "unified cgroup.procs refused", res: &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, wantErr: true},
		{desc: "swap below memory", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m, root := fakeV2(t)
			p := "/kubepods/pod1/sb"
			err := m.Create(p, tc.res)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				if m.Exists("/kubepods") {
					t.Fatal("failed Create left what it made")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, p)
			for f, want := range tc.want {
				if got := readFile(t, dir, f); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
			// Controllers are delegated down the levels Cricket made; the
			// root already delegates them all in this tree, so it is not
			// written to.
			if got := readFile(t, filepath.Join(root, "kubepods"), "cgroup.subtree_control"); got != "+cpu +cpuset +io +memory +pids +hugetlb" {
				t.Errorf("kubepods subtree_control = %q", got)
			}
			if got := readFile(t, root, "cgroup.subtree_control"); got != "cpuset cpu io memory hugetlb pids" {
				t.Errorf("root subtree_control rewritten: %q", got)
			}
		})
	}
}

// TestV2CreateUnderSystemdRoot: systemd delegates from the root only the
// controllers its units asked for (Debian 12 boots with "memory pids"), so
// a cgroup made at the top (the cgroupfs driver's /cricket/pod-<id>) had
// no cpu.weight to write: "open .../cpu.weight: no such file or
// directory" in test/vm. The root's missing controllers are enabled, as
// runc and containerd do.
func TestV2CreateUnderSystemdRoot(t *testing.T) {
	m, root := fakeV2(t)
	writeFiles(t, root, map[string]string{"cgroup.subtree_control": "memory pids\n"})
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000)}, Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}}
	if err := m.Create("/cricket/pod-1", res); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, root, "cgroup.subtree_control"); got != "+cpu +cpuset +io +hugetlb" {
		t.Errorf("root subtree_control = %q, want the missing controllers enabled", got)
	}
	if got := readFile(t, filepath.Join(root, "cricket/pod-1"), "cpu.max"); got != "50000 100000" {
		t.Errorf("cpu.max = %q", got)
	}
}

func TestCPUSharesToWeight(t *testing.T) {
	tests := []struct {
		desc   string
		shares uint64
		want   uint64
	}{
		{desc: "unset", shares: 0, want: 0},
		{desc: "min", shares: 2, want: 1},
		{desc: "default", shares: 1024, want: 100},
		{desc: "max", shares: 262144, want: 10000},
		{desc: "above max", shares: 1 << 20, want: 10000},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := CPUSharesToWeight(tc.shares); got != tc.want {
				t.Fatalf("got %d", got)
			}
		})
	}
}

func TestSwapToV2(t *testing.T) {
	tests := []struct {
		desc        string
		swap, limit int64
		want        int64
		wantErr     bool
	}{
		{desc: "unset", want: 0},
		{desc: "unlimited memory, unset swap", limit: -1, want: -1},
		{desc: "unlimited swap", swap: -1, limit: 100, want: -1},
		{desc: "difference", swap: 300, limit: 100, want: 200},
		{desc: "no swap", swap: 100, limit: 100, want: 0},
		{desc: "below", swap: 50, limit: 100, wantErr: true},
		{desc: "swap without memory", swap: 50, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := SwapToV2(tc.swap, tc.limit)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %d, %v", got, err)
			}
		})
	}
}

func TestV2Stats(t *testing.T) {
	busy := map[string]string{
		"cpu.stat":   "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 9\nnr_throttled 1\nthrottled_usec 7\n",
		"cpu.weight": "100\n", "cpu.max": "20000 100000\n",
		"memory.current": "5000\n", "memory.max": "10000\n", "memory.low": "4096\n", "memory.peak": "7000\n",
		"memory.swap.current": "512\n", "memory.swap.max": "8192\n",
		"memory.events":       "low 0\nhigh 0\nmax 6\noom 1\noom_kill 1\n",
		"memory.stat":         "anon 3000\nfile 2000\nkernel 10\nfile_mapped 300\ninactive_file 1500\npgfault 11\npgmajfault 1\n",
		"pids.current":        "3\n",
		"io.stat":             "253:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
		"hugetlb.2MB.current": "2097152\n",
		"memory.pressure":     "some avg10=1.50 avg60=0.25 avg300=0.05 total=1234\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=99\n",
	}
	busyStats := Stats{
		CPU: CPUStats{
			UsageNanos: 2000000, UserNanos: 1500000, SystemNanos: 500000, Periods: 9, ThrottledPeriods: 1, ThrottledNanos: 7000,
			Shares: 1024, Quota: 20000, Period: 100000,
		},
		Memory: MemoryStats{
			Usage: 5000, WorkingSet: 3500, RSS: 3000, Cache: 2000, PageFaults: 11, MajorPageFaults: 1,
			OwnPageFaults: 11, OwnMajorPageFaults: 1, MappedFile: 300, Swap: 512, KernelUsage: 10, MaxUsage: 7000,
			Failcnt: 6, Limit: 10000, Reservation: 4096, SwapLimit: 8192,
		},
		Pids: PidsStats{Current: 3},
		IO: []IODevice{
			{Major: 8, Minor: 0, ReadBytes: 1, Reads: 1},
			{Major: 253, Minor: 0, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2},
		},
		Hugetlb: map[string]HugetlbStats{"2MB": {Usage: 2097152}},
	}
	zeroPSI := PSI{}
	tests := []struct {
		desc    string
		files   map[string]string
		remove  []string
		want    Stats
		wantPSI PSI // memory pressure
	}{
		{
			desc: "fresh cgroup",
			want: Stats{
				CPU: CPUStats{Shares: 1024, Period: 100000}, Hugetlb: map[string]HugetlbStats{"2MB": {}},
			},
			wantPSI: zeroPSI,
		},
		{
			desc: "busy cgroup", files: busy, want: busyStats,
			wantPSI: PSI{Some: PSIData{Avg10: 1.5, Avg60: 0.25, Avg300: 0.05, Total: 1234}, Full: PSIData{Avg10: 0.1, Total: 99}},
		},
		{
			desc: "older kernel: no memory.peak, kernel memory itemised", remove: []string{"memory.peak"},
			files: map[string]string{"memory.stat": "anon 3000\nkernel_stack 16384\npagetables 4096\npercpu 8\nsock 0\nvmalloc 0\nslab 100\n"},
			want: Stats{
				CPU:     CPUStats{Shares: 1024, Period: 100000},
				Memory:  MemoryStats{RSS: 3000, KernelUsage: 20588},
				Hugetlb: map[string]HugetlbStats{"2MB": {}},
			},
		},
		{
			desc: "no swap accounting, io or hugetlb controller",
			remove: []string{"memory.swap.current", "memory.swap.max", "io.stat", "hugetlb.2MB.current",
				"hugetlb.2MB.rsvd.current", "hugetlb.2MB.max"},
			want: Stats{CPU: CPUStats{Shares: 1024, Period: 100000}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m, root := fakeV2(t)
			p := "/sb"
			if err := m.Create(p, nil); err != nil {
				t.Fatal(err)
			}
			writeFiles(t, filepath.Join(root, p), tc.files)
			for _, n := range tc.remove {
				if err := os.Remove(filepath.Join(root, p, n)); err != nil {
					t.Fatal(err)
				}
			}
			s, err := m.Stats(p)
			if err != nil {
				t.Fatal(err)
			}
			if s.PSI == nil || s.PSI.Memory != tc.wantPSI {
				t.Fatalf("psi %+v, want memory %+v", s.PSI, tc.wantPSI)
			}
			s.PSI = nil
			if !reflect.DeepEqual(*s, tc.want) {
				t.Fatalf("stats\n got %+v\nwant %+v", *s, tc.want)
			}
		})
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		desc          string
		in            string
		quota, period uint64
		wantErr       bool
	}{
		{desc: "no quota", in: "max 100000", period: 100000},
		{desc: "quota", in: "20000 50000", quota: 20000, period: 50000},
		{desc: "one field", in: "max", wantErr: true},
		{desc: "bad quota", in: "x 100000", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			q, p, err := parseCPUMax(tc.in)
			if (err != nil) != tc.wantErr || q != tc.quota || p != tc.period {
				t.Fatalf("got %d %d %v", q, p, err)
			}
		})
	}
}

func TestCPUWeightToShares(t *testing.T) {
	for _, shares := range []uint64{0, 2, 3, 10, 100, 512, 1024, 2048, 4096, 262144} {
		t.Run(fmt.Sprint(shares), func(t *testing.T) {
			got := CPUWeightToShares(CPUSharesToWeight(shares))
			// The weight is rounded up: shares close together share one.
			if w := CPUSharesToWeight(got); w != CPUSharesToWeight(shares) {
				t.Fatalf("shares %d -> weight %d -> shares %d -> weight %d", shares, CPUSharesToWeight(shares), got, w)
			}
		})
	}
	if got := CPUWeightToShares(100); got != 1024 {
		t.Fatalf("weight 100 is %d shares, want 1024", got)
	}
}

func TestV2Procs(t *testing.T) {
	m, root := fakeV2(t)
	if _, err := m.Procs("/sb"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing cgroup: %v", err)
	}
	if err := m.Create("/sb", nil); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, filepath.Join(root, "sb"), map[string]string{"cgroup.procs": "7\n8\n"})
	if got, err := m.Procs("/sb"); err != nil || !slices.Equal(got, []int{7, 8}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestV2Remove(t *testing.T) {
	m, _ := fakeV2(t)
	if err := m.Create("/a/b", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(context.Background(), "/a/b"); err != nil {
		t.Fatal(err)
	}
	if m.Exists("/a/b") || !m.Exists("/a") {
		t.Fatal("wrong dirs removed")
	}
	if err := m.Remove(context.Background(), "/a/b"); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func TestSystemdDriverOnV2(t *testing.T) {
	m, root := fakeV2(t)
	m.namer = namer(Systemd)
	p, err := ChildPath(Systemd, "kubepods-pod1.slice", "sb")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(p, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "kubepods.slice/kubepods-pod1.slice/cricket-sb.scope"), "pids.max"); got != "5" {
		t.Fatalf("pids.max = %q", got)
	}
}
