package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// ContainerStats measures one container; a missing one is NotFound.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	d, err := s.statsServices("ContainerStats")
	if err != nil {
		return nil, err
	}
	if req.GetContainerId() == "" {
		return nil, fmt.Errorf("container ID is required: %w", errdefs.ErrInvalidArgument)
	}
	c, err := d.containers.Get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	cs, err := d.stats.Container(ctx, containerRef(c))
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: toCRIContainerStats(c, cs)}, nil
}
