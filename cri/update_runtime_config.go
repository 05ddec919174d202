package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdateRuntimeConfig stores the pod CIDR the kubelet hands over; it is the
// only field of RuntimeConfig the CRI defines.
func (s *Service) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr == "" {
		// An empty CIDR means "no change", as in the peers.
		return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
	}
	if err := s.deps.Network.SetPodCIDR(cidr); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
