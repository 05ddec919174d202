package integration

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodSandboxMetricsRSSOfAShell runs the kind of container the kubelet's
// node e2e container-metrics spec runs (a busybox shell looping on sleep,
// 80M memory limit) and checks that container_memory_rss, as the kubelet's
// /metrics/cadvisor gets it from ListPodSandboxMetrics, is the anonymous
// memory the container's cgroup holds: not zero, and the total_rss of its
// v1 memory.stat (anon of its v2 memory.stat).
func TestPodSandboxMetricsRSSOfAShell(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	pod := testPod(t, "rss", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	// As in the spec, the container first exits (the kubelet keeps the
	// exited one) and its restart loops.
	limits := &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 80_000_000}}
	first := testContainer("rss", "echo hello")
	first.Linux = limits
	firstID := startContainer(t, rt, podID, pod, first)
	for end := time.Now().Add(10 * time.Second); containerStatus(t, rt, firstID).State != runtimeapi.ContainerState_CONTAINER_EXITED; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("first container did not exit")
		}
	}
	cfg := testContainer("rss", "while true; do sleep 1; done")
	cfg.Metadata.Attempt = 1
	cfg.Linux = limits
	ctrID := startContainer(t, rt, podID, pod, cfg)

	// (The v1 lookup only on v1: a v2 process has no "memory" line.)
	key, statFile := "anon", ""
	if cgroupV2() {
		statFile = memoryStatOf(t, ctrID, "")
	} else {
		key, statFile = "total_rss", memoryStatOf(t, ctrID, "memory")
	}
	// Poll as the e2e spec does (it gives a minute); the metric must
	// agree with the cgroup at some read and never be zero.
	var rss, want uint64
	for end := time.Now().Add(20 * time.Second); ; {
		time.Sleep(time.Second)
		rss = rssMetric(t, rt, podID, ctrID)
		for id, v := range rssMetrics(t, rt, podID) {
			if id != ctrID {
				t.Errorf("exited container %s reports container_memory_rss = %d", id, v)
			}
		}
		before := statValue(t, statFile, key)
		if rss == 0 {
			t.Errorf("container_memory_rss = 0; the cgroup's %s %s = %d", statFile, key, before)
		}
		want = before
		if rss == want && want > 0 || time.Now().After(end) {
			break
		}
	}
	t.Logf("container_memory_rss = %d, the cgroup's %s %s = %d", rss, statFile, key, want)
	if rss != want || want < 10<<10 {
		t.Errorf("container_memory_rss = %d, the cgroup's %s %s = %d (want equal, >= 10 KiB)", rss, statFile, key, want)
	}
}

// rssMetric reads the container's container_memory_rss from
// ListPodSandboxMetrics; it fails the test when the metric is missing.
func rssMetric(t *testing.T, rt runtimeapi.RuntimeServiceClient, podID, ctrID string) uint64 {
	t.Helper()
	resp, err := rt.ListPodSandboxMetrics(context.Background(), &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pm := range resp.PodMetrics {
		for _, cm := range pm.ContainerMetrics {
			if pm.PodSandboxId != podID || cm.ContainerId != ctrID {
				continue
			}
			for _, m := range cm.Metrics {
				if m.Name == "container_memory_rss" {
					return m.GetValue().GetValue()
				}
			}
		}
	}
	t.Fatalf("no container_memory_rss for container %s of pod %s", ctrID, podID)
	return 0
}

// rssMetrics reads container_memory_rss of each container of the pod
// that reports it.
func rssMetrics(t *testing.T, rt runtimeapi.RuntimeServiceClient, podID string) map[string]uint64 {
	t.Helper()
	resp, err := rt.ListPodSandboxMetrics(context.Background(), &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, pm := range resp.PodMetrics {
		for _, cm := range pm.ContainerMetrics {
			for _, m := range cm.Metrics {
				if pm.PodSandboxId == podID && m.Name == "container_memory_rss" {
					out[cm.ContainerId] = m.GetValue().GetValue()
				}
			}
		}
	}
	return out
}

// memoryStatOf finds the memory.stat of the container's cgroup in the v1
// controller hierarchy (or the v2 one for controller ""), from the
// /proc/PID/cgroup of a process of the container.
func memoryStatOf(t *testing.T, ctrID, controller string) string {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		files, _ := os.ReadDir("/proc")
		for _, f := range files {
			if _, err := strconv.Atoi(f.Name()); err != nil {
				continue
			}
			raw, err := os.ReadFile("/proc/" + f.Name() + "/cgroup")
			if err != nil || !strings.Contains(string(raw), "/"+ctrID+"\n") {
				continue
			}
			for _, line := range strings.Split(string(raw), "\n") {
				parts := strings.SplitN(line, ":", 3)
				if len(parts) != 3 {
					continue
				}
				if controller == "" && parts[0] == "0" && parts[1] == "" {
					return filepath.Join("/sys/fs/cgroup", parts[2], "memory.stat")
				}
				for _, c := range strings.Split(parts[1], ",") {
					if controller != "" && c == controller {
						return filepath.Join("/sys/fs/cgroup", controller, parts[2], "memory.stat")
					}
				}
			}
		}
	}
	t.Fatalf("no process of container %s found in a %q cgroup", ctrID, controller)
	return ""
}

// statValue reads one key of a memory.stat file.
func statValue(t *testing.T, file, key string) uint64 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", file, key, err)
			}
			return n
		}
	}
	t.Fatalf("%s has no %s", file, key)
	return 0
}
