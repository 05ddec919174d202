package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// CreateContainer creates a container in a pod sandbox.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	svc, err := s.containers("CreateContainer")
	if err != nil {
		return nil, err
	}
	if err := validateContainerConfig(req.GetPodSandboxId(), req.GetConfig()); err != nil {
		return nil, err
	}
	c, err := svc.Create(ctx, container.CreateRequest{PodID: req.GetPodSandboxId(), Config: req.GetConfig()})
	if err != nil {
		return nil, err
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: c.ID}, nil
}

func validateContainerConfig(podID string, cfg *runtimeapi.ContainerConfig) error {
	switch {
	case podID == "":
		return fmt.Errorf("pod sandbox id is required: %w", errdefs.ErrInvalidArgument)
	case cfg == nil:
		return fmt.Errorf("container config is required: %w", errdefs.ErrInvalidArgument)
	case cfg.GetMetadata().GetName() == "":
		return fmt.Errorf("container config has no metadata name: %w", errdefs.ErrInvalidArgument)
	case cfg.GetImage().GetImage() == "":
		return fmt.Errorf("container %q names no image: %w", cfg.GetMetadata().GetName(), errdefs.ErrInvalidArgument)
	}
	return nil
}
