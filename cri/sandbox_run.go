package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox"
)

// RunPodSandbox creates and starts a pod sandbox.
func (s *Service) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	svc, err := s.sandboxes("RunPodSandbox")
	if err != nil {
		return nil, err
	}
	if err := validatePodSandboxConfig(req.GetConfig()); err != nil {
		return nil, err
	}
	sb, err := svc.Run(ctx, sandbox.RunRequest{Config: req.GetConfig(), RuntimeHandler: req.GetRuntimeHandler()})
	if err != nil {
		return nil, err
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
}

func validatePodSandboxConfig(cfg *runtimeapi.PodSandboxConfig) error {
	md := cfg.GetMetadata()
	switch {
	case cfg == nil:
		return fmt.Errorf("pod sandbox config is required: %w", errdefs.ErrInvalidArgument)
	case md == nil:
		return fmt.Errorf("pod sandbox config has no metadata: %w", errdefs.ErrInvalidArgument)
	case md.GetName() == "" || md.GetNamespace() == "" || md.GetUid() == "":
		return fmt.Errorf("pod sandbox metadata needs name, namespace and uid (got %q, %q, %q): %w",
			md.GetName(), md.GetNamespace(), md.GetUid(), errdefs.ErrInvalidArgument)
	}
	return nil
}
