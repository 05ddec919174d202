package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus reports a container; a missing one is NotFound.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	svc, err := s.containers("ContainerStatus")
	if err != nil {
		return nil, err
	}
	c, err := svc.Get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: toCRIContainerStatus(c)}
	if req.GetVerbose() {
		if resp.Info, err = containerInfo(c); err != nil {
			return nil, err
		}
	}
	return resp, nil
}
