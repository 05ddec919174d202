package integration

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// burner burns a core and holds a 64 MiB buffer: busybox dd allocates its
// block and reads /dev/zero into it forever.
const burner = `dd if=/dev/zero of=/dev/null bs=64M`

// statsPod runs a pod with one container running script and returns the
// pod and container IDs.
func statsPod(t *testing.T, d *harness.Daemon, name, script string) (podID, ctrID string) {
	t.Helper()
	rt := d.Runtime()
	pod := testPod(t, name, runtimeapi.NamespaceMode_CONTAINER)
	podID = runPod(t, rt, pod, "")
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	return podID, startContainer(t, rt, podID, pod, testContainer(name, script))
}

func containerStats(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string) *runtimeapi.ContainerStats {
	t.Helper()
	resp, err := rt.ListContainerStats(context.Background(), &runtimeapi.ListContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{Id: id}})
	if err != nil {
		t.Fatalf("ListContainerStats: %v", err)
	}
	if len(resp.Stats) != 1 {
		t.Fatalf("ListContainerStats of %s: %d results", id, len(resp.Stats))
	}
	return resp.Stats[0]
}

// TestStatsMoveWithLoad checks that container and pod stats, through the
// CRI and through crictl stats and statsp, show a container burning CPU
// and holding memory.
func TestStatsMoveWithLoad(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	podID, ctrID := statsPod(t, d, "burner", burner)
	const minMem = 32 << 20

	first := containerStats(t, rt, ctrID)
	time.Sleep(2 * time.Second)
	second := containerStats(t, rt, ctrID)
	before, after := first.GetCpu().GetUsageCoreNanoSeconds().GetValue(), second.GetCpu().GetUsageCoreNanoSeconds().GetValue()
	if after-before < uint64(500*time.Millisecond) {
		t.Errorf("cpu usage went from %d to %d ns in 2 s; want at least half a core", before, after)
	}
	if cores := second.GetCpu().GetUsageNanoCores().GetValue(); cores < 5e8 {
		t.Errorf("usage_nano_cores = %d, want at least half a core", cores)
	}
	if ws := second.GetMemory().GetWorkingSetBytes().GetValue(); ws < minMem {
		t.Errorf("working set = %d, want at least %d", ws, minMem)
	}
	if second.GetWritableLayer().GetFsId().GetMountpoint() == "" {
		t.Errorf("writable layer = %v", second.GetWritableLayer())
	}

	out, err := d.Crictl("stats", "-o", "json", "--id", ctrID)
	if err != nil {
		t.Fatalf("crictl stats: %v\n%s", err, out)
	}
	var cs runtimeapi.ListContainerStatsResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("crictl stats output: %v\n%s", err, out)
	}
	if len(cs.Stats) != 1 || cs.Stats[0].GetAttributes().GetId() != ctrID || cs.Stats[0].GetMemory().GetWorkingSetBytes().GetValue() < minMem {
		t.Errorf("crictl stats = %s", out)
	}

	out, err = d.Crictl("statsp", "-o", "json", "--id", podID)
	if err != nil {
		t.Fatalf("crictl statsp: %v\n%s", err, out)
	}
	var ps runtimeapi.ListPodSandboxStatsResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("crictl statsp output: %v\n%s", err, out)
	}
	if len(ps.Stats) != 1 {
		t.Fatalf("crictl statsp = %s", out)
	}
	l := ps.Stats[0].GetLinux()
	if l.GetCpu().GetUsageCoreNanoSeconds().GetValue() < after || l.GetMemory().GetWorkingSetBytes().GetValue() < minMem ||
		l.GetProcess().GetProcessCount().GetValue() < 1 || len(l.GetContainers()) != 1 {
		t.Errorf("crictl statsp = %s", out)
	}
}

// TestPodSandboxMetricsOfABurner checks the CRI metrics of a busy
// container against their descriptors.
func TestPodSandboxMetricsOfABurner(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	podID, ctrID := statsPod(t, d, "metrics", burner)
	time.Sleep(1500 * time.Millisecond)

	descs, err := rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]int{}
	for _, d := range descs.Descriptors {
		labels[d.Name] = len(d.LabelKeys)
	}
	resp, err := rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]uint64{}
	for _, pm := range resp.PodMetrics {
		if pm.PodSandboxId != podID {
			continue
		}
		for _, cm := range pm.ContainerMetrics {
			if cm.ContainerId != ctrID {
				continue
			}
			for _, m := range cm.Metrics {
				if n, ok := labels[m.Name]; !ok || n != len(m.LabelValues) {
					t.Errorf("metric %s has %d labels, its descriptor %d", m.Name, len(m.LabelValues), n)
				}
				values[m.Name] = m.GetValue().GetValue()
			}
		}
	}
	if values["container_cpu_usage_seconds_total"] < 1 || values["container_memory_working_set_bytes"] < 32<<20 || values["container_processes"] < 1 {
		t.Errorf("metrics of the burner: %v", values)
	}
}
