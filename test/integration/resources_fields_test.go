package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

const mib = 1 << 20

// hostHasController reports whether the host mounts a v1 controller.
func hostHasController(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/fs/cgroup", name))
	return err == nil
}

func onV1(why string) func(*secEnv) string {
	return func(*secEnv) string {
		if !hostHasController("memory") {
			return "host has no cgroup v1 memory controller: " + why
		}
		return ""
	}
}

func onV2(why string) func(*secEnv) string {
	return func(*secEnv) string {
		if !cgroupV2() {
			return "host is not cgroup v2 unified: " + why
		}
		return ""
	}
}

// cgroupV2 reports whether the host is cgroup v2 unified (test/vm's node).
func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// wantCgroup asserts a v1 cgroup file of the container, read on the host.
func (e *secEnv) wantCgroup(t *testing.T, id, controller, file, want string) {
	t.Helper()
	wantHostFile(t, filepath.Join(e.cgroupDir(t, id, controller), file), want)
}

// cgWant is one setting as each cgroup version shows it: a v1 controller's
// file and the v2 file ("" when v2 has no counterpart).
type cgWant struct{ ctrl, v1, v1Want, v2, v2Want string }

// wantCgroups asserts settings of the container's cgroup in the host's
// cgroup version. On v2 the cgroup is read from the container's host pid:
// a container in a cgroup namespace sees only "0::/".
func (e *secEnv) wantCgroups(t *testing.T, id string, wants ...cgWant) {
	t.Helper()
	if !cgroupV2() {
		for _, w := range wants {
			e.wantCgroup(t, id, w.ctrl, w.v1, w.v1Want)
		}
		return
	}
	dir := e.cgroupDirV2(t, id)
	for _, w := range wants {
		if w.v2 != "" {
			wantHostFile(t, filepath.Join(dir, w.v2), w.v2Want)
		}
	}
}

// cgroupDirV2 is the container's cgroup directory on a v2 host.
func (e *secEnv) cgroupDirV2(t *testing.T, id string) string {
	t.Helper()
	data := hostFile(t, fmt.Sprintf("/proc/%d/cgroup", containerStatusPid(t, e.rt, id)))
	for _, line := range strings.Split(data, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join("/sys/fs/cgroup", p)
		}
	}
	t.Fatalf("container %s has no cgroup v2 line: %q", id, data)
	return ""
}

// weight is the cpu.weight the container's handler writes for shares on
// v2: the built-in handler uses opencontainers/cgroups' conversion (as runc
// >= 1.3.2 does; Cricket's pod cgroups too), Debian 12's runc 1.1 and crun
// 1.8 the older linear one.
func (e *secEnv) weight(shares uint64) string {
	if e.h.handler == "" {
		return strconv.FormatUint(cgroups.CPUSharesToWeight(shares), 10)
	}
	return strconv.FormatUint(1+(shares-2)*9999/262142, 10)
}

// hostOffersController reports whether the host has a controller, in
// either cgroup version.
func hostOffersController(name string) bool {
	if !cgroupV2() {
		return hostHasController(name)
	}
	data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && slices.Contains(strings.Fields(string(data)), name)
}

// daemonOOMScoreAdj is the daemon's own oom_score_adj: the floor containers
// are clamped to when the daemon lacks CAP_SYS_RESOURCE.
func daemonOOMScoreAdj(t *testing.T, d *harness.Daemon) int {
	t.Helper()
	v, err := strconv.Atoi(hostFile(t, fmt.Sprintf("/proc/%d/oom_score_adj", d.Pid())))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitExited polls the container's status until it exits.
func (e *secEnv) waitExited(t *testing.T, id string, timeout time.Duration) *runtimeapi.ContainerStatus {
	t.Helper()
	var st *runtimeapi.ContainerStatus
	testutil.Eventually(t, "container "+id+" to exit", timeout, func() error {
		st = containerStatus(t, e.rt, id)
		return stateIs(st.State, runtimeapi.ContainerState_CONTAINER_EXITED)
	})
	return st
}

// TestResourcesFields covers the CRI's Linux container resources on every
// handler: cpu, cpuset, memory and swap, hugepages, oom_score_adj (with the
// clamp), unified, UpdateContainerResources (all or nothing),
// UpdatePodSandboxResources, pod overhead and OOM kills.
func TestResourcesFields(t *testing.T) {
	d := startSecurityDaemon(t, "")
	res := func(r *runtimeapi.LinuxContainerResources) func(*testing.T, *secEnv, *runtimeapi.ContainerConfig) {
		return func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Linux = &runtimeapi.LinuxContainerConfig{Resources: r}
		}
	}
	cases := []fieldCase{
		{desc: "cpu shares", ctr: res(&runtimeapi.LinuxContainerResources{CpuShares: 512}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroups(t, id, cgWant{"cpu", "cpu.shares", "512", "cpu.weight", e.weight(512)})
			}},
		{desc: "cpu quota and period", ctr: res(&runtimeapi.LinuxContainerResources{CpuQuota: 25000, CpuPeriod: 50000}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroups(t, id, cgWant{"cpu", "cpu.cfs_quota_us", "25000", "cpu.max", "25000 50000"},
					cgWant{"cpu", "cpu.cfs_period_us", "50000", "", ""})
			}},
		{desc: "cpuset cpus and mems", ctr: res(&runtimeapi.LinuxContainerResources{CpusetCpus: "0", CpusetMems: "0"}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroups(t, id, cgWant{"cpuset", "cpuset.cpus", "0", "cpuset.cpus", "0"},
					cgWant{"cpuset", "cpuset.mems", "0", "cpuset.mems", "0"})
				if got := e.procStatus(t, id, "Cpus_allowed_list"); got != "0" {
					t.Errorf("Cpus_allowed_list = %s, want 0", got)
				}
			}},
		{desc: "cpuset malformed is rejected", ctr: res(&runtimeapi.LinuxContainerResources{CpusetCpus: "0-x"}),
			wantCode: codes.InvalidArgument, wantErr: "cpu list"},
		{desc: "memory limit and swap", ctr: res(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 * mib, MemorySwapLimitInBytes: 96 * mib}),
			check: func(t *testing.T, e *secEnv, id string) {
				// v2 limits swap alone: memory+swap 96 MiB is 32 MiB of swap.
				e.wantCgroups(t, id, cgWant{"memory", "memory.limit_in_bytes", strconv.Itoa(64 * mib), "memory.max", strconv.Itoa(64 * mib)},
					cgWant{"memory", "memory.limit_in_bytes", strconv.Itoa(64 * mib), "memory.swap.max", strconv.Itoa(32 * mib)})
				if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
					e.wantCgroup(t, id, "memory", "memory.memsw.limit_in_bytes", strconv.Itoa(96*mib))
				}
			}},
		{desc: "memory swap below limit is rejected", ctr: res(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 * mib, MemorySwapLimitInBytes: 32 * mib}),
			wantCode: codes.InvalidArgument, wantErr: "memory_swap_limit_in_bytes"},
		{desc: "memory negative is rejected", ctr: res(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -5}),
			wantCode: codes.InvalidArgument, wantErr: "memory_limit_in_bytes"},
		{desc: "hugepage limits", ctr: res(&runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 * mib}}}),
			check: func(t *testing.T, e *secEnv, id string) {
				if !hostOffersController("hugetlb") {
					// The container was created and runs; nothing more can be checked.
					t.Skip("host offers no hugetlb controller: the limit has nothing to apply to")
				}
				e.wantCgroups(t, id, cgWant{"hugetlb", "hugetlb.2MB.limit_in_bytes", strconv.Itoa(4 * mib), "hugetlb.2MB.max", strconv.Itoa(4 * mib)})
			}},
		{desc: "hugepage page size malformed is rejected", ctr: res(&runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "../2MB", Limit: 1}}}),
			wantCode: codes.InvalidArgument, wantErr: "page size"},
		{desc: "oom_score_adj", ctr: res(&runtimeapi.LinuxContainerResources{OomScoreAdj: 500}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantSh(t, id, "cat /proc/1/oom_score_adj", "500")
			}},
		{desc: "oom_score_adj below the daemon's is clamped", ctr: res(&runtimeapi.LinuxContainerResources{OomScoreAdj: -998}),
			check: func(t *testing.T, e *secEnv, id string) {
				want := max(-998, daemonOOMScoreAdj(t, e.d))
				if hasCapSysResource(t) {
					want = -998
				}
				e.wantSh(t, id, "cat /proc/1/oom_score_adj", strconv.Itoa(want))
			}},
		{desc: "unified on cgroup v1 is rejected", skip: onV1("the case is for v1 hosts"), ctr: res(&runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.high": "max"}}),
			wantCode: codes.InvalidArgument, wantErr: "cgroup v2"},
		{desc: "unified keys on cgroup v2", skip: onV2("unified is v2 only"), ctr: res(&runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.high": strconv.Itoa(48 * mib), "pids.max": "42"}}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroups(t, id, cgWant{v2: "memory.high", v2Want: strconv.Itoa(48 * mib)}, cgWant{v2: "pids.max", v2Want: "42"})
			}},
		{desc: "UpdateContainerResources", ctr: res(&runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 * mib}),
			check: func(t *testing.T, e *secEnv, id string) {
				upd := &runtimeapi.LinuxContainerResources{CpuShares: 256, CpuQuota: 20000, CpuPeriod: 100000, MemoryLimitInBytes: 128 * mib}
				if _, err := e.rt.UpdateContainerResources(context.Background(), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: upd}); err != nil {
					t.Fatal(err)
				}
				e.wantCgroups(t, id, cgWant{"cpu", "cpu.shares", "256", "cpu.weight", e.weight(256)},
					cgWant{"cpu", "cpu.cfs_quota_us", "20000", "cpu.max", "20000 100000"},
					cgWant{"memory", "memory.limit_in_bytes", strconv.Itoa(128 * mib), "memory.max", strconv.Itoa(128 * mib)})
				if got := containerStatus(t, e.rt, id).GetResources().GetLinux(); got.GetCpuShares() != 256 || got.GetMemoryLimitInBytes() != 128*mib {
					t.Errorf("status resources = %v", got)
				}
			}},
		{desc: "UpdateContainerResources is all or nothing", skip: onV1("v1 refuses a memory limit below usage"), ctr: res(&runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 * mib}),
			check: func(t *testing.T, e *secEnv, id string) {
				// The cpu part applies, then the memory limit below the
				// container's usage fails: the cpu part must be undone.
				upd := &runtimeapi.LinuxContainerResources{CpuShares: 300, MemoryLimitInBytes: 4096}
				_, err := e.rt.UpdateContainerResources(context.Background(), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: upd})
				if err == nil {
					t.Fatal("a memory limit below usage was accepted")
				}
				t.Logf("refused as wanted: %v", err)
				e.wantCgroup(t, id, "cpu", "cpu.shares", "512")
				e.wantCgroup(t, id, "memory", "memory.limit_in_bytes", strconv.Itoa(64*mib))
				if got := containerStatus(t, e.rt, id).GetResources().GetLinux(); got.GetCpuShares() != 512 {
					t.Errorf("status resources after a refused update = %v", got)
				}
			}},
		{desc: "UpdateContainerResources is all or nothing on cgroup v2", skip: onV2("v2 has its own failing write"), ctr: res(&runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 * mib}),
			check: func(t *testing.T, e *secEnv, id string) {
				// v2 lowers memory.max below usage by reclaiming: a cpuset
				// outside the parent's is what the kernel refuses. The
				// cpu part, written before, must be undone.
				upd := &runtimeapi.LinuxContainerResources{CpuShares: 300, MemoryLimitInBytes: 64 * mib, CpusetCpus: "63"}
				_, err := e.rt.UpdateContainerResources(context.Background(), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: upd})
				if err == nil {
					t.Fatal("a cpuset of a CPU the node lacks was accepted")
				}
				t.Logf("refused as wanted: %v", err)
				e.wantCgroups(t, id, cgWant{v2: "cpu.weight", v2Want: e.weight(512)}, cgWant{v2: "memory.max", v2Want: strconv.Itoa(64 * mib)})
				if got := containerStatus(t, e.rt, id).GetResources().GetLinux(); got.GetCpuShares() != 512 || got.GetCpusetCpus() != "" {
					t.Errorf("status resources after a refused update = %v", got)
				}
			}},
		{desc: "UpdateContainerResources before start", check: func(t *testing.T, e *secEnv, _ string) {
			ctx := context.Background()
			podID, podCfg := e.pod(t, podDefault)
			cfg := e.newConfig("update before start")
			cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{CpuShares: 512}}
			resp, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
			if err != nil {
				t.Fatal(err)
			}
			id := resp.ContainerId
			t.Cleanup(func() { e.remove(id) })
			if _, err := e.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id,
				Linux: &runtimeapi.LinuxContainerResources{CpuShares: 640}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
				t.Fatal(err)
			}
			e.wantCgroups(t, id, cgWant{"cpu", "cpu.shares", "640", "cpu.weight", e.weight(640)})
		}},
		{desc: "UpdateContainerResources invalid is rejected", check: func(t *testing.T, e *secEnv, id string) {
			_, err := e.rt.UpdateContainerResources(context.Background(), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id,
				Linux: &runtimeapi.LinuxContainerResources{CpuQuota: -7}})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
		}},
		{desc: "UpdateContainerResources unified on v1 is rejected", skip: onV1("the case is for v1 hosts"), check: func(t *testing.T, e *secEnv, id string) {
			_, err := e.rt.UpdateContainerResources(context.Background(), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id,
				Linux: &runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.high": "max"}}})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
		}},
		{desc: "pod overhead and resources size the pod cgroup", pod: podResources, check: func(t *testing.T, e *secEnv, id string) {
			// The pod cgroup is sized by Cricket itself (pkg/cgroups).
			if cgroupV2() {
				pod := filepath.Dir(e.cgroupDirV2(t, id))
				wantHostFile(t, filepath.Join(pod, "memory.max"), strconv.Itoa(podResourcesMemory))
				wantHostFile(t, filepath.Join(pod, "cpu.weight"), strconv.FormatUint(cgroups.CPUSharesToWeight(768), 10))
				return
			}
			pod := filepath.Dir(e.cgroupDir(t, id, "memory"))
			wantHostFile(t, filepath.Join(pod, "memory.limit_in_bytes"), strconv.Itoa(podResourcesMemory))
			wantHostFile(t, filepath.Join(filepath.Dir(e.cgroupDir(t, id, "cpu")), "cpu.shares"), "768")
		}},
		{desc: "UpdatePodSandboxResources", pod: podResources, check: func(t *testing.T, e *secEnv, id string) {
			podID, _ := e.pod(t, podResources)
			r := &runtimeapi.LinuxContainerResources{CpuShares: 1024, MemoryLimitInBytes: 512 * mib}
			if _, err := e.rt.UpdatePodSandboxResources(context.Background(), &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: podID,
				Overhead: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 * mib, CpuShares: 100}, Resources: r}); err != nil {
				t.Fatalf("UpdatePodSandboxResources: %v", err)
			}
			// The pod cgroup Cricket made (no cgroup_parent) is resized.
			if cgroupV2() {
				pod := filepath.Dir(e.cgroupDirV2(t, id))
				wantHostFile(t, filepath.Join(pod, "memory.max"), strconv.Itoa(528*mib))
				wantHostFile(t, filepath.Join(pod, "cpu.weight"), strconv.FormatUint(cgroups.CPUSharesToWeight(1124), 10))
			} else {
				wantHostFile(t, filepath.Join(filepath.Dir(e.cgroupDir(t, id, "memory")), "memory.limit_in_bytes"), strconv.Itoa(528*mib))
				wantHostFile(t, filepath.Join(filepath.Dir(e.cgroupDir(t, id, "cpu")), "cpu.shares"), "1124")
			}
			_, err := e.rt.UpdatePodSandboxResources(context.Background(), &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: podID,
				Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -1}})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("invalid resources: err = %v, want InvalidArgument", err)
			}
		}},
		{desc: "OOM kill is reported as OOMKilled 137", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Command = []string{"sh", "-c", "sleep 0.5; tail /dev/zero"}
			c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 24 * mib, MemorySwapLimitInBytes: 24 * mib}}
		}, check: func(t *testing.T, e *secEnv, id string) {
			st := e.waitExited(t, id, time.Minute)
			if st.Reason != "OOMKilled" || st.ExitCode != 137 {
				t.Errorf("exit: reason %q code %d message %q, want OOMKilled 137", st.Reason, st.ExitCode, st.Message)
			}
		}},
	}
	runFieldCases(t, d, cases)
}

// hasCapSysResource reports whether this test (and so the daemon) may
// lower oom_score_adj.
func hasCapSysResource(t *testing.T) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return capMask(t, strings.TrimSpace(v))&(1<<24) != 0
		}
	}
	return false
}
