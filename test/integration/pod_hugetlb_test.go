package integration

import (
	"context"
	"os"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// kubeletHugepageLimits are what the kubelet puts into every container's
// resources: a limit of 0 for each page size the kernel has
// (/sys/kernel/mm/hugepages), whether or not a hugetlb cgroup controller
// is mounted.
func kubeletHugepageLimits(t *testing.T) []*runtimeapi.HugepageLimit {
	t.Helper()
	entries, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil || len(entries) == 0 {
		t.Skipf("the kernel lists no hugepage sizes: %v", err)
	}
	sizes := map[string]string{"hugepages-2048kB": "2MB", "hugepages-1048576kB": "1GB"}
	var out []*runtimeapi.HugepageLimit
	for _, e := range entries {
		if s, ok := sizes[e.Name()]; ok {
			out = append(out, &runtimeapi.HugepageLimit{PageSize: s, Limit: 0})
		}
	}
	if len(out) == 0 {
		t.Skip("no 2MB or 1GB hugepage size")
	}
	return out
}

// TestContainerHugepageLimitsWithoutHugetlb: a container with the
// kubelet's hugepage limits starts on any host. Regression: on a host whose
// kernel has hugepages but no mounted hugetlb controller (this cgroup v1
// VM), StartContainer failed with "cannot set hugetlb limit: container
// could not join or create cgroup" and a real kubelet could start nothing.
func TestContainerHugepageLimitsWithoutHugetlb(t *testing.T) {
	d := startPodDaemon(t)
	limits := kubeletHugepageLimits(t)
	rt := d.Runtime()
	pod := testPod(t, "hugetlb", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	cfg := testContainer("c", "echo started; sleep 30")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 << 20,
		HugepageLimits:     limits,
	}}
	id := startContainer(t, rt, podID, pod, cfg)
	if st := containerStatus(t, rt, id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container is %s, want running", st.State)
	}
	if got := containerMemoryLimit(t, rt, id); got != "" && got != "67108864" {
		t.Errorf("memory limit in the container = %q, want 67108864 (the other limits still apply)", got)
	}
	// The kubelet sends them again on a resize (UpdateContainerResources).
	if _, err := rt.UpdateContainerResources(context.Background(), &runtimeapi.UpdateContainerResourcesRequest{
		ContainerId: id,
		Linux:       &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 96 << 20, HugepageLimits: limits},
	}); err != nil {
		t.Fatalf("UpdateContainerResources with hugepage limits: %v", err)
	}
	if got := containerMemoryLimit(t, rt, id); got != "" && got != "100663296" {
		t.Errorf("memory limit after the update = %q, want 100663296", got)
	}
}

// containerMemoryLimit is the memory limit the container sees in its own
// cgroup: memory.limit_in_bytes on a hybrid host (the host's paths),
// memory.max on cgroup v2 (a cgroup namespace); "" on a host where the
// container cannot see it (legacy v1 without the memory hierarchy).
func containerMemoryLimit(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string) string {
	t.Helper()
	switch {
	case cgroupV2():
		return strings.TrimSpace(execSync(t, rt, id, "cat", "/sys/fs/cgroup/memory.max"))
	case hybridCgroups():
		return strings.TrimSpace(execSync(t, rt, id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"))
	}
	return ""
}
