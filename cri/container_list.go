package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainers lists the containers the filter selects.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	svc, err := s.containers("ListContainers")
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListContainersResponse{Containers: listContainers(svc, req.GetFilter())}, nil
}

func listContainers(svc ContainerService, f *runtimeapi.ContainerFilter) []*runtimeapi.Container {
	filter, ok := containerFilter(f)
	if !ok {
		return nil
	}
	var out []*runtimeapi.Container
	for _, c := range svc.List(filter) {
		out = append(out, toCRIContainer(c))
	}
	return out
}
