package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestNetworkCNILatency estimates the time RunPodSandbox spends in CNI:
// the median RunPodSandbox wall time of 50 pods on the pod network minus
// that of 50 hostNetwork pods (which skip CNI, and with it the pinning of a
// network and UTS namespace, so the figure slightly overstates CNI). It
// only runs with CRICKET_BENCH=1:
//
//	make build && CRICKET_ROOT_TESTS=1 CRICKET_BENCH=1 CRICKETD_BIN=$PWD/bin/cricketd \
//	  go test -tags seccomp -count=1 -run TestNetworkCNILatency -v ./test/integration/
func TestNetworkCNILatency(t *testing.T) {
	if os.Getenv("CRICKET_BENCH") != "1" {
		t.Skip("set CRICKET_BENCH=1 to measure the time RunPodSandbox spends in CNI")
	}
	const runs = 50
	n := newPodNet(t, "lat", 17)
	d := startNetDaemon(t, n)
	rt := d.Runtime()
	ctx := context.Background()
	measure := func(hostNet bool, runs int) []time.Duration {
		var out []time.Duration
		for i := 0; i < runs; i++ {
			pod := testPod(t, fmt.Sprintf("lat-%v-%d-%d", hostNet, runs, i), runtimeapi.NamespaceMode_CONTAINER)
			if hostNet {
				pod.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
			}
			start := time.Now()
			id := runPod(t, rt, pod, "")
			out = append(out, time.Since(start))
			if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(out)
		return out
	}
	measure(false, 3) // warm-up: the first pod creates the bridge
	with, without := measure(false, runs), measure(true, runs)
	t.Logf("RunPodSandbox over %d pods: with CNI median %v (min %v, max %v); hostNetwork median %v (min %v, max %v)",
		runs, with[runs/2], with[0], with[runs-1], without[runs/2], without[0], without[runs-1])
	t.Logf("time in CNI (median difference): %v", with[runs/2]-without[runs/2])
}
