package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
)

// UpdatePodSandboxResources is told the pod's new overhead and total
// resources after an in-place resize. The kubelet sizes the pod's cgroup
// itself and each container's through UpdateContainerResources, so this
// checks the request and resizes only a pod cgroup Cricket created itself
// (best effort, as containerd and CRI-O do, where the call feeds NRI
// plugins).
func (s *Service) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	svc, err := s.sandboxes("UpdatePodSandboxResources")
	if err != nil {
		return nil, err
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("pod sandbox id is empty: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := svc.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	for name, r := range map[string]*runtimeapi.LinuxContainerResources{"overhead": req.GetOverhead(), "resources": req.GetResources()} {
		if _, err := oci.Resources(r); err != nil {
			return nil, fmt.Errorf("%s of pod sandbox %s: %w", name, sb.ID, err)
		}
	}
	if err := svc.UpdateResources(ctx, sb.ID, req.GetOverhead(), req.GetResources()); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(2).Info("pod sandbox resources updated", "podSandboxID", sb.ID)
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
