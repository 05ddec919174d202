package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/sandbox/container"
)

// ListContainerStats measures the containers the filter selects.
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	d, err := s.statsServices("ListContainerStats")
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListContainerStatsResponse{}
	if err := d.eachContainerStats(ctx, req.GetFilter(), collect(&resp.Stats)); err != nil {
		return nil, err
	}
	return resp, nil
}

// eachContainerStats measures the containers f selects, in ID order, and
// passes each to fn. A container that cannot be measured (removed
// meanwhile) is logged and left out.
func (d statsDeps) eachContainerStats(ctx context.Context, f *runtimeapi.ContainerStatsFilter, fn func(*runtimeapi.ContainerStats) error) error {
	filter := container.Filter{ID: f.GetId(), Labels: f.GetLabelSelector()}
	if id := f.GetPodSandboxId(); id != "" {
		// The pod may be named by a unique prefix, as everywhere.
		sb, err := d.sandboxes.Get(id)
		if err != nil {
			return nil
		}
		filter.PodID = sb.ID
	}
	for _, c := range d.containers.List(filter) {
		cs, err := d.stats.Container(ctx, containerRef(c))
		if err != nil {
			klog.FromContext(ctx).V(4).Info("leaving container out of stats", "containerID", c.ID, "err", err)
			continue
		}
		if err := fn(toCRIContainerStats(c, cs)); err != nil {
			return err
		}
	}
	return nil
}
