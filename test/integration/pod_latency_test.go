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

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// TestPodStartLatency measures, over 50 runs, the time from RunPodSandbox to
// a running container (RunPodSandbox + CreateContainer + StartContainer)
// and the resident memory of each pod's shim. It only runs with
// CRICKET_BENCH=1:
//
//	CRICKET_ROOT_TESTS=1 CRICKET_BENCH=1 go test ./test/integration -run TestPodStartLatency -v
func TestPodStartLatency(t *testing.T) {
	if os.Getenv("CRICKET_BENCH") != "1" {
		t.Skip("set CRICKET_BENCH=1 to measure pod start latency and shim memory")
	}
	const runs = 50
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	var latencies []time.Duration
	var rss []int
	for i := 0; i < runs; i++ {
		pod := testPod(t, fmt.Sprintf("bench-%d", i), runtimeapi.NamespaceMode_CONTAINER)
		start := time.Now()
		podID := runPod(t, rt, pod, "")
		startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))
		latencies = append(latencies, time.Since(start))
		if kb, err := shimRSS(d, podID); err == nil {
			rss = append(rss, kb)
		} else {
			t.Errorf("shim RSS: %v", err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(latencies)
	slices.Sort(rss)
	t.Logf("pod+container start latency over %d runs: median %v, min %v, max %v", runs, latencies[runs/2], latencies[0], latencies[runs-1])
	if len(rss) > 0 {
		t.Logf("shim RSS per pod (one running container): median %d KiB, min %d KiB, max %d KiB", rss[len(rss)/2], rss[0], rss[len(rss)-1])
	}
}

// shimRSS reads VmRSS of the shim of a pod, found by its state dir.
func shimRSS(d *harness.Daemon, podID string) (int, error) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		args := strings.Split(string(cmdline), "\x00")
		if len(args) < 2 || args[1] != "__shim" || !strings.Contains(string(cmdline), podID) {
			continue
		}
		status, err := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			}
		}
	}
	return 0, fmt.Errorf("no shim process for pod %s", podID)
}
