package cri

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/stats"
)

func TestPodSandboxMetrics(t *testing.T) {
	defer func(n int) { statsBatch = n }(statsBatch)
	statsBatch = 1
	e := newStatsEnv(t)
	p1, p2 := e.pod(t, "p1"), e.pod(t, "p2")
	a := e.container(t, p1, "p1", "a", true)
	e.container(t, p2, "p2", "b", false)
	// The test process stands in for the container's: its /proc entry
	// is real.
	e.cgroups.SetProcs(e.cgroupOf(t, a), []int{os.Getpid()})
	ctx := context.Background()

	descs, err := e.runtime.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]int{}
	for _, d := range descs.Descriptors {
		labels[d.Name] = len(d.LabelKeys)
	}
	for _, name := range []string{
		stats.MetricCPUUsage, stats.MetricMemoryWorkingSet, stats.MetricMemoryUsage, stats.MetricMemoryRSS,
		stats.MetricNetRxBytes, stats.MetricNetTxBytes, stats.MetricProcesses, stats.MetricOOMEvents, stats.MetricFSUsage,
		stats.MetricFileDescriptors, stats.MetricThreads, stats.MetricStartTime, stats.MetricLastSeen,
	} {
		if _, ok := labels[name]; !ok {
			t.Errorf("no descriptor for %s", name)
		}
	}

	list, err := e.runtime.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := e.runtime.StreamPodSandboxMetrics(ctx, &runtimeapi.StreamPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var streamed []*runtimeapi.PodSandboxMetrics
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.PodSandboxMetrics) != 1 {
			t.Fatalf("batch of %d, want 1", len(resp.PodSandboxMetrics))
		}
		streamed = append(streamed, resp.PodSandboxMetrics...)
	}
	tests := []struct {
		desc string
		pods []*runtimeapi.PodSandboxMetrics
	}{
		{desc: "list", pods: list.PodMetrics},
		{desc: "stream", pods: streamed},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if len(tc.pods) != 2 {
				t.Fatalf("%d pods, want 2", len(tc.pods))
			}
			values := map[string]uint64{}
			check := func(ms []*runtimeapi.Metric, prefix string) {
				for _, m := range ms {
					n, ok := labels[m.Name]
					if !ok || len(m.LabelValues) != n || m.Timestamp == 0 {
						t.Fatalf("metric %v does not fit its descriptor", m)
					}
					if _, seen := values[prefix+m.Name]; !seen { // the first of labelled ones
						values[prefix+m.Name] = m.Value.GetValue()
					}
				}
			}
			for _, pm := range tc.pods {
				check(pm.Metrics, pm.PodSandboxId+"/")
				for _, cm := range pm.ContainerMetrics {
					check(cm.Metrics, cm.ContainerId+"/")
				}
			}
			if values[a+"/"+stats.MetricCPUUsage] != 4 || values[a+"/"+stats.MetricMemoryWorkingSet] != 80<<20 || values[a+"/"+stats.MetricFSUsage] != 8192 {
				t.Errorf("container metrics %v", values)
			}
			if values[a+"/"+stats.MetricProcesses] != 1 || values[a+"/"+stats.MetricThreads] == 0 || values[a+"/"+stats.MetricFileDescriptors] == 0 {
				t.Errorf("container process metrics %v", values)
			}
			if values[p1+"/"+stats.MetricNetRxBytes] != 1000 || values[p1+"/"+stats.MetricLastSeen] != uint64(e.clock().Unix()) {
				t.Errorf("pod metrics %v", values)
			}
		})
	}
}

// TestPodSandboxMetricsLeaveExitedContainersOut checks that a container
// that has exited, whose cgroup stays until it is removed, reports no
// metrics: its empty cgroup's zeros (rss 0) would read as the metrics of
// the pod's container of that name, as the kubelet labels them, beside
// those of the running restart. cAdvisor never sees such a container (the
// runtime deletes its cgroup when it exits) and CRI-O skips stopped ones.
func TestPodSandboxMetricsLeaveExitedContainersOut(t *testing.T) {
	e := newStatsEnv(t)
	p := e.pod(t, "p")
	exited := e.container(t, p, "p", "first", true)
	ctx := context.Background()
	if _, err := e.runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: exited}); err != nil {
		t.Fatal(err)
	}
	e.cgroups.Set(e.cgroupOf(t, exited), &cgroups.Stats{})
	running := e.container(t, p, "p", "restart", true)

	resp, err := e.runtime.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.PodMetrics) != 1 {
		t.Fatalf("%d pods, want 1", len(resp.PodMetrics))
	}
	var ids []string
	for _, cm := range resp.PodMetrics[0].ContainerMetrics {
		ids = append(ids, cm.ContainerId)
	}
	if len(ids) != 1 || ids[0] != running {
		t.Errorf("metrics of containers %v, want only the running %s (exited: %s)", ids, running, exited)
	}
}
