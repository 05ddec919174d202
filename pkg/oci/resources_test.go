package oci

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestResources(t *testing.T) {
	tests := []struct {
		desc    string
		in      *runtimeapi.LinuxContainerResources
		check   func(t *testing.T, r *specs.LinuxResources)
		wantNil bool
		wantErr bool
	}{
		{desc: "nil", wantNil: true},
		{desc: "zero", in: &runtimeapi.LinuxContainerResources{}, check: func(t *testing.T, r *specs.LinuxResources) {
			if r.CPU != nil || r.Memory != nil {
				t.Fatalf("zero request set %+v", r)
			}
		}},
		{desc: "cpu and memory", in: &runtimeapi.LinuxContainerResources{CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, CpusetCpus: "0-1,3", CpusetMems: "0", MemoryLimitInBytes: 1 << 20, MemorySwapLimitInBytes: 2 << 20}, check: func(t *testing.T, r *specs.LinuxResources) {
			if *r.CPU.Shares != 512 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || r.CPU.Cpus != "0-1,3" || *r.Memory.Limit != 1<<20 || *r.Memory.Swap != 2<<20 {
				t.Fatalf("got cpu %+v mem %+v", r.CPU, r.Memory)
			}
		}},
		{desc: "quota -1 unlimited", in: &runtimeapi.LinuxContainerResources{CpuQuota: -1}, check: func(t *testing.T, r *specs.LinuxResources) {
			if *r.CPU.Quota != -1 {
				t.Fatal(r.CPU)
			}
		}},
		{desc: "hugepages and unified", in: &runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}}, Unified: map[string]string{"memory.high": "100"}}, check: func(t *testing.T, r *specs.LinuxResources) {
			if r.HugepageLimits[0].Pagesize != "2MB" || r.Unified["memory.high"] != "100" {
				t.Fatal(r)
			}
		}},
		{desc: "negative shares", in: &runtimeapi.LinuxContainerResources{CpuShares: -1}, wantErr: true},
		{desc: "negative memory", in: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -5}, wantErr: true},
		{desc: "swap below limit", in: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 10, MemorySwapLimitInBytes: 5}, wantErr: true},
		{desc: "bad cpuset", in: &runtimeapi.LinuxContainerResources{CpusetCpus: "0-a"}, wantErr: true},
		{desc: "unified key escapes", in: &runtimeapi.LinuxContainerResources{Unified: map[string]string{"../x": "1"}}, wantErr: true},
		{desc: "hugepage size empty", in: &runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{}}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := Resources(tc.in)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || (r == nil) != tc.wantNil {
				t.Fatalf("got %+v, %v", r, err)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestPodResources(t *testing.T) {
	cases := []struct {
		desc       string
		cfg        *runtimeapi.LinuxPodSandboxConfig
		wantNil    bool
		wantMem    int64
		wantShares uint64
		wantQuota  int64
		wantErr    bool
	}{
		{desc: "none", cfg: &runtimeapi.LinuxPodSandboxConfig{}, wantNil: true},
		{desc: "resources plus overhead", cfg: &runtimeapi.LinuxPodSandboxConfig{
			Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 100, CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000},
			Overhead:  &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 10, CpuShares: 256, CpuQuota: 10000},
		}, wantMem: 110, wantShares: 768, wantQuota: 60000},
		{desc: "unlimited memory stays unlimited", cfg: &runtimeapi.LinuxPodSandboxConfig{
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 2},
			Overhead:  &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 10},
		}, wantShares: 2},
		{desc: "invalid overhead", cfg: &runtimeapi.LinuxPodSandboxConfig{
			Overhead: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -1},
		}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := PodResources(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr || (tc.wantNil && got == nil) {
				return
			}
			if got == nil {
				t.Fatal("nil resources")
			}
			var mem int64
			if got.Memory != nil && got.Memory.Limit != nil {
				mem = *got.Memory.Limit
			}
			var shares uint64
			var quota int64
			if got.CPU != nil && got.CPU.Shares != nil {
				shares = *got.CPU.Shares
			}
			if got.CPU != nil && got.CPU.Quota != nil {
				quota = *got.CPU.Quota
			}
			if mem != tc.wantMem || shares != tc.wantShares || quota != tc.wantQuota {
				t.Errorf("memory %d shares %d quota %d, want %d %d %d", mem, shares, quota, tc.wantMem, tc.wantShares, tc.wantQuota)
			}
		})
	}
}
