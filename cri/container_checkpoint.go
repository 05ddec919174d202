package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// CheckpointContainer writes a CRIU checkpoint archive of a running
// container to the request's location, a file path (the kubelet's
// /var/lib/kubelet/checkpoints/checkpoint-<pod>-<container>-<time>.tar).
// The container keeps running. A timeout of zero uses the caller's
// deadline only; a positive one bounds the checkpoint too. Without a
// usable CRIU the answer is FailedPrecondition with CRIU's reason.
func (s *Service) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	svc, err := s.containers("CheckpointContainer")
	if err != nil {
		return nil, err
	}
	if req.GetContainerId() == "" {
		return nil, fmt.Errorf("container id is empty: %w", errdefs.ErrInvalidArgument)
	}
	if req.GetTimeout() < 0 {
		return nil, fmt.Errorf("timeout %d is negative: %w", req.GetTimeout(), errdefs.ErrInvalidArgument)
	}
	timeout := time.Duration(req.GetTimeout()) * time.Second
	if err := svc.Checkpoint(ctx, req.GetContainerId(), req.GetLocation(), timeout); err != nil {
		return nil, err
	}
	return &runtimeapi.CheckpointContainerResponse{}, nil
}
