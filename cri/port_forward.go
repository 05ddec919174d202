package cri

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox"
)

// PortForward checks that the pod sandbox is ready and returns the URL of
// a streaming session that forwards to its ports.
func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	streamer, err := s.streamer("PortForward")
	if err != nil {
		return nil, err
	}
	svc, err := s.sandboxes("PortForward")
	if err != nil {
		return nil, err
	}
	if req.GetPodSandboxId() == "" {
		return nil, fmt.Errorf("PortForward: pod sandbox id is required: %w", errdefs.ErrInvalidArgument)
	}
	for _, p := range req.GetPort() {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("PortForward: port %d out of range: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	sb, err := svc.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if st := sb.Status().State; st != sandbox.StateReady {
		return nil, fmt.Errorf("PortForward: pod sandbox %s is %s, not ready: %w", sb.ID, st, errdefs.ErrFailedPrecondition)
	}
	full := proto.Clone(req).(*runtimeapi.PortForwardRequest)
	full.PodSandboxId = sb.ID
	return streamer.GetPortForward(full)
}
