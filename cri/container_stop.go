package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopContainer stops a running container with its stop signal and kills
// it after the request's timeout (seconds); a missing one is success.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	svc, err := s.containers("StopContainer")
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(max(req.GetTimeout(), 0)) * time.Second
	if err := svc.Stop(ctx, req.GetContainerId(), timeout); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}
