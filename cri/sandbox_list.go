package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandbox lists the pod sandboxes the filter selects.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	svc, err := s.sandboxes("ListPodSandbox")
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, sb := range svc.List(sandboxFilter(req.GetFilter())) {
		resp.Items = append(resp.Items, toCRIPodSandbox(sb))
	}
	return resp, nil
}
