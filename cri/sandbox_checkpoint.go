package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// CheckpointPod checks the request as api.proto v0.37 demands (an
// existing, empty output directory reached without symlinks; a non-empty
// list of distinct running containers of the pod; only known options),
// refuses with FailedPrecondition when CRIU is unusable, and has the
// container service write one consistent pod-wide checkpoint (all selected
// containers paused until each is captured, all resumed before returning).
func (s *Service) CheckpointPod(ctx context.Context, req *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	svc, err := s.containers("CheckpointPod")
	if err != nil {
		return nil, err
	}
	pods, err := s.sandboxes("CheckpointPod")
	if err != nil {
		return nil, err
	}
	opts, err := validateCheckpointPod(req)
	if err != nil {
		return nil, err
	}
	if _, err := pods.Get(req.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if err := svc.CheckpointPod(ctx, req.GetPodSandboxId(), req.GetContainerIds(), req.GetOutputPath(), opts); err != nil {
		return nil, err
	}
	return &runtimeapi.CheckpointPodResponse{}, nil
}

func validateCheckpointPod(req *runtimeapi.CheckpointPodRequest) (checkpoint.Options, error) {
	var none checkpoint.Options
	if req.GetPodSandboxId() == "" {
		return none, fmt.Errorf("pod sandbox id is empty: %w", errdefs.ErrInvalidArgument)
	}
	if len(req.GetContainerIds()) == 0 {
		return none, fmt.Errorf("container_ids is empty: %w", errdefs.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for _, id := range req.GetContainerIds() {
		if id == "" || seen[id] {
			return none, fmt.Errorf("container_ids: %q is empty or repeated: %w", id, errdefs.ErrInvalidArgument)
		}
		seen[id] = true
	}
	opts, err := checkpoint.ParseOptions(req.GetOptions())
	if err != nil {
		return none, err
	}
	return opts, checkpoint.CheckOutputDir(req.GetOutputPath())
}

// RestorePod validates the request as api.proto v0.37 demands (an
// absolute checkpoint directory; a pod config; a non-empty list of
// container configs with distinct, non-empty names; only known options)
// and refuses with FailedPrecondition when CRIU is unusable. The restore
// itself is not built yet: a valid request on a host with CRIU answers
// Unimplemented and creates nothing.
func (s *Service) RestorePod(ctx context.Context, req *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	svc, err := s.containers("RestorePod")
	if err != nil {
		return nil, err
	}
	if err := validateRestorePod(req); err != nil {
		return nil, err
	}
	if err := svc.CheckCRIU(); err != nil {
		return nil, err
	}
	return nil, notImplemented("RestorePod", "pod-level restore")
}

func validateRestorePod(req *runtimeapi.RestorePodRequest) error {
	if err := checkpoint.CheckLocation(req.GetCheckpointPath()); err != nil {
		return err
	}
	if req.GetConfig() == nil {
		return fmt.Errorf("pod sandbox config is missing: %w", errdefs.ErrInvalidArgument)
	}
	if len(req.GetContainerConfigs()) == 0 {
		return fmt.Errorf("container_configs is empty: %w", errdefs.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for _, c := range req.GetContainerConfigs() {
		name := c.GetMetadata().GetName()
		if name == "" || seen[name] {
			return fmt.Errorf("container_configs: name %q is empty or repeated: %w", name, errdefs.ErrInvalidArgument)
		}
		seen[name] = true
	}
	_, err := checkpoint.ParseOptions(req.GetOptions())
	return err
}
