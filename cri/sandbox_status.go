package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox/container"
)

// PodSandboxStatus reports a pod sandbox and the statuses of its
// containers; a missing one is NotFound.
func (s *Service) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	svc, err := s.sandboxes("PodSandboxStatus")
	if err != nil {
		return nil, err
	}
	sb, err := svc.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: toCRIPodSandboxStatus(sb), Timestamp: time.Now().UnixNano()}
	if s.deps.Containers != nil {
		for _, c := range s.deps.Containers.List(container.Filter{PodID: sb.ID}) {
			resp.ContainersStatuses = append(resp.ContainersStatuses, toCRIContainerStatus(c))
		}
	}
	if req.GetVerbose() {
		if resp.Info, err = sandboxInfo(sb); err != nil {
			return nil, err
		}
	}
	return resp, nil
}
