package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// PodSandboxStats measures a pod sandbox and its containers; a missing one
// is NotFound. A stopped pod is reported with what is left of it.
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	d, err := s.statsServices("PodSandboxStats")
	if err != nil {
		return nil, err
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod sandbox ID is required: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := d.sandboxes.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	ps, ctrs, err := d.podStats(ctx, sb)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: toCRIPodSandboxStats(sb, ps, ctrs)}, nil
}
