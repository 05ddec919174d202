package cgroups

import (
	"context"
	"path/filepath"
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
			// Controllers are delegated down the levels Cricket made, and the
			// root (the init system's) is left alone.
			if got := readFile(t, filepath.Join(root, "kubepods"), "cgroup.subtree_control"); got != "+cpu +cpuset +io +memory +pids +hugetlb" {
				t.Errorf("kubepods subtree_control = %q", got)
			}
			if got := readFile(t, root, "cgroup.subtree_control"); got != "cpuset cpu io memory hugetlb pids" {
				t.Errorf("root subtree_control touched: %q", got)
			}
		})
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
	m, root := fakeV2(t)
	p := "/sb"
	if err := m.Create(p, nil); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, filepath.Join(root, p), map[string]string{
		"cpu.stat":        "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 9\nnr_throttled 1\nthrottled_usec 7\n",
		"memory.current":  "5000\n",
		"memory.max":      "10000\n",
		"memory.stat":     "anon 3000\nfile 2000\nkernel 10\ninactive_file 1500\npgfault 11\npgmajfault 1\n",
		"pids.current":    "3\n",
		"memory.pressure": "some avg10=1.50 avg60=0.25 avg300=0.05 total=1234\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=99\n",
	})
	s, err := m.Stats(p)
	if err != nil {
		t.Fatal(err)
	}
	wantCPU := CPUStats{UsageNanos: 2000000, UserNanos: 1500000, SystemNanos: 500000, Periods: 9, ThrottledPeriods: 1, ThrottledNanos: 7000}
	wantMem := MemoryStats{Usage: 5000, WorkingSet: 3500, RSS: 3000, Cache: 2000, PageFaults: 11, MajorPageFaults: 1, Limit: 10000}
	if s.CPU != wantCPU || s.Memory != wantMem || s.Pids != (PidsStats{Current: 3}) {
		t.Fatalf("stats %+v", s)
	}
	if s.PSI == nil || s.PSI.Memory.Some != (PSIData{Avg10: 1.5, Avg60: 0.25, Avg300: 0.05, Total: 1234}) || s.PSI.Memory.Full.Total != 99 {
		t.Fatalf("psi %+v", s.PSI)
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
