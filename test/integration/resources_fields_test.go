package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

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

// wantCgroup asserts a v1 cgroup file of the container, read on the host.
func (e *secEnv) wantCgroup(t *testing.T, id, controller, file, want string) {
	t.Helper()
	wantHostFile(t, filepath.Join(e.cgroupDir(t, id, controller), file), want)
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
		{desc: "cpu shares", skip: onV1("v1 file names"), ctr: res(&runtimeapi.LinuxContainerResources{CpuShares: 512}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroup(t, id, "cpu", "cpu.shares", "512")
			}},
		{desc: "cpu quota and period", skip: onV1("v1 file names"), ctr: res(&runtimeapi.LinuxContainerResources{CpuQuota: 25000, CpuPeriod: 50000}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroup(t, id, "cpu", "cpu.cfs_quota_us", "25000")
				e.wantCgroup(t, id, "cpu", "cpu.cfs_period_us", "50000")
			}},
		{desc: "cpuset cpus and mems", skip: onV1("v1 file names"), ctr: res(&runtimeapi.LinuxContainerResources{CpusetCpus: "0", CpusetMems: "0"}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroup(t, id, "cpuset", "cpuset.cpus", "0")
				e.wantCgroup(t, id, "cpuset", "cpuset.mems", "0")
				if got := e.procStatus(t, id, "Cpus_allowed_list"); got != "0" {
					t.Errorf("Cpus_allowed_list = %s, want 0", got)
				}
			}},
		{desc: "cpuset malformed is rejected", ctr: res(&runtimeapi.LinuxContainerResources{CpusetCpus: "0-x"}),
			wantCode: codes.InvalidArgument, wantErr: "cpu list"},
		{desc: "memory limit and swap", skip: onV1("v1 file names"), ctr: res(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 * mib, MemorySwapLimitInBytes: 96 * mib}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantCgroup(t, id, "memory", "memory.limit_in_bytes", strconv.Itoa(64*mib))
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
				if !hostHasController("hugetlb") {
					// The container was created and runs; nothing more can be checked.
					t.Skip("host mounts no hugetlb controller (/sys/fs/cgroup/hugetlb): the limit has nothing to apply to")
				}
				e.wantCgroup(t, id, "hugetlb", "hugetlb.2MB.limit_in_bytes", strconv.Itoa(4*mib))
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
		{desc: "UpdateContainerResources", skip: onV1("v1 file names"), ctr: res(&runtimeapi.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 * mib}),
			check: func(t *testing.T, e *secEnv, id string) {
				upd := &runtimeapi.LinuxContainerResources{CpuShares: 256, CpuQuota: 20000, CpuPeriod: 100000, MemoryLimitInBytes: 128 * mib}
				if _, err := e.rt.UpdateContainerResources(context.Background(), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: upd}); err != nil {
					t.Fatal(err)
				}
				e.wantCgroup(t, id, "cpu", "cpu.shares", "256")
				e.wantCgroup(t, id, "cpu", "cpu.cfs_quota_us", "20000")
				e.wantCgroup(t, id, "memory", "memory.limit_in_bytes", strconv.Itoa(128*mib))
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
		{desc: "UpdateContainerResources before start", skip: onV1("v1 file names"), check: func(t *testing.T, e *secEnv, _ string) {
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
			e.wantCgroup(t, id, "cpu", "cpu.shares", "640")
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
		{desc: "pod overhead and resources size the pod cgroup", pod: podResources, skip: onV1("v1 file names"), check: func(t *testing.T, e *secEnv, id string) {
			pod := filepath.Dir(e.cgroupDir(t, id, "memory"))
			wantHostFile(t, filepath.Join(pod, "memory.limit_in_bytes"), strconv.Itoa(podResourcesMemory))
			wantHostFile(t, filepath.Join(filepath.Dir(e.cgroupDir(t, id, "cpu")), "cpu.shares"), "768")
		}},
		{desc: "UpdatePodSandboxResources", pod: podResources, skip: onV1("v1 file names"), check: func(t *testing.T, e *secEnv, id string) {
			podID, _ := e.pod(t, podResources)
			r := &runtimeapi.LinuxContainerResources{CpuShares: 1024, MemoryLimitInBytes: 512 * mib}
			if _, err := e.rt.UpdatePodSandboxResources(context.Background(), &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: podID,
				Overhead: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 * mib, CpuShares: 100}, Resources: r}); err != nil {
				t.Fatalf("UpdatePodSandboxResources: %v", err)
			}
			// The pod cgroup Cricket made (no cgroup_parent) is resized.
			wantHostFile(t, filepath.Join(filepath.Dir(e.cgroupDir(t, id, "memory")), "memory.limit_in_bytes"), strconv.Itoa(528*mib))
			wantHostFile(t, filepath.Join(filepath.Dir(e.cgroupDir(t, id, "cpu")), "cpu.shares"), "1124")
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
