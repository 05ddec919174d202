package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/sandbox"
)

// ListPodSandboxStats measures the ready pod sandboxes the filter selects.
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	d, err := s.statsServices("ListPodSandboxStats")
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListPodSandboxStatsResponse{}
	if err := d.eachPodStats(ctx, req.GetFilter(), collect(&resp.Stats)); err != nil {
		return nil, err
	}
	return resp, nil
}

// eachPodStats measures the ready pods f selects, in ID order, and passes
// each to fn. A pod that cannot be measured is logged and left out.
func (d statsDeps) eachPodStats(ctx context.Context, f *runtimeapi.PodSandboxStatsFilter, fn func(*runtimeapi.PodSandboxStats) error) error {
	for _, sb := range d.readyPods(sandbox.Filter{ID: f.GetId(), Labels: f.GetLabelSelector()}) {
		ps, ctrs, err := d.podStats(ctx, sb)
		if err != nil {
			klog.FromContext(ctx).V(4).Info("leaving pod sandbox out of stats", "podSandboxID", sb.ID, "err", err)
			continue
		}
		if err := fn(toCRIPodSandboxStats(sb, ps, ctrs)); err != nil {
			return err
		}
	}
	return nil
}
