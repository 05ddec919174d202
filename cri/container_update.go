package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// UpdateContainerResources replaces the cgroup resources of a created or
// running container, all or nothing; ContainerStatus reports them after.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	svc, err := s.containers("UpdateContainerResources")
	if err != nil {
		return nil, err
	}
	if req.GetContainerId() == "" {
		return nil, fmt.Errorf("container id is empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := svc.Update(ctx, req.GetContainerId(), req.GetLinux()); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}
