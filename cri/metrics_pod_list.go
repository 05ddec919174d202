package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// ListPodSandboxMetrics reports the metrics of every ready pod sandbox and
// its containers that have not exited.
func (s *Service) ListPodSandboxMetrics(ctx context.Context, req *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	d, err := s.statsServices("ListPodSandboxMetrics")
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListPodSandboxMetricsResponse{}
	if err := d.eachPodMetrics(ctx, collect(&resp.PodMetrics)); err != nil {
		return nil, err
	}
	return resp, nil
}

// eachPodMetrics measures every ready pod, in ID order, and passes its
// metrics to fn.
func (d statsDeps) eachPodMetrics(ctx context.Context, fn func(*runtimeapi.PodSandboxMetrics) error) error {
	for _, sb := range d.readyPods(sandbox.Filter{}) {
		ps, ctrs, err := d.podStats(ctx, sb)
		if err != nil {
			klog.FromContext(ctx).V(4).Info("leaving pod sandbox out of metrics", "podSandboxID", sb.ID, "err", err)
			continue
		}
		if err := fn(toCRIPodSandboxMetrics(sb, ps, ctrs)); err != nil {
			return err
		}
	}
	return nil
}

func toCRIPodSandboxMetrics(sb *sandbox.Sandbox, ps *stats.PodStats, ctrs map[string]*container.Container) *runtimeapi.PodSandboxMetrics {
	md := sb.Config.GetMetadata()
	out := &runtimeapi.PodSandboxMetrics{
		PodSandboxId: sb.ID,
		Metrics: toCRIMetrics(stats.PodSamples(ps,
			stats.Labels{ID: sb.ID, Name: sb.Name, Namespace: md.GetNamespace(), Pod: md.GetName()}, sb.CreatedAt)),
	}
	for _, cs := range ps.Containers {
		c, ok := ctrs[cs.ID]
		// An exited container's cgroup stays until the container is
		// removed, empty: its zeros (rss 0) would stand beside the
		// running restart's under the same container label. cAdvisor
		// never sees one (its cgroup goes when it exits), and CRI-O
		// leaves stopped containers out too.
		if !ok || c.Status().State == container.StateExited {
			continue
		}
		labels := stats.Labels{
			Container: c.Config.GetMetadata().GetName(), ID: c.ID, Image: containerImageSpec(c).GetImage(),
			Name: c.Name, Namespace: md.GetNamespace(), Pod: md.GetName(),
		}
		out.ContainerMetrics = append(out.ContainerMetrics, &runtimeapi.ContainerMetrics{
			ContainerId: c.ID, Metrics: toCRIMetrics(stats.ContainerSamples(cs, labels, c.Status().StartedAt)),
		})
	}
	return out
}

func toCRIMetrics(samples []stats.Sample) []*runtimeapi.Metric {
	out := make([]*runtimeapi.Metric, 0, len(samples))
	for _, s := range samples {
		typ := runtimeapi.MetricType_GAUGE
		if s.Type == stats.Counter {
			typ = runtimeapi.MetricType_COUNTER
		}
		out = append(out, &runtimeapi.Metric{
			Name: s.Name, Timestamp: s.Timestamp.UnixNano(), MetricType: typ,
			LabelValues: s.LabelValues, Value: uint64Value(s.Value),
		})
	}
	return out
}
