package cri

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
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

// RestorePod checks the request as api.proto v0.37 demands (an absolute
// checkpoint directory; a pod config; a non-empty list of container
// configs whose distinct, non-empty names are exactly the checkpoint's;
// only known options), refuses with FailedPrecondition when CRIU is
// unusable, then runs the pod and creates each container from its
// checkpoint directory: CREATED, its process restored only by
// StartContainer. On error everything it created is removed. The
// checkpoint directory is only read.
func (s *Service) RestorePod(ctx context.Context, req *runtimeapi.RestorePodRequest) (_ *runtimeapi.RestorePodResponse, retErr error) {
	svc, err := s.containers("RestorePod")
	if err != nil {
		return nil, err
	}
	pods, err := s.sandboxes("RestorePod")
	if err != nil {
		return nil, err
	}
	opts, err := validateRestorePod(req)
	if err != nil {
		return nil, err
	}
	if err := svc.CheckCRIU(); err != nil {
		return nil, err
	}
	recorded, err := checkRestoreNames(req)
	if err != nil {
		return nil, err
	}
	// A checkpoint with established connections restores only with them.
	tcpEstablished := opts.TCPEstablished || recorded.TCPEstablished
	sb, err := pods.Run(ctx, sandbox.RunRequest{Config: req.GetConfig(), RuntimeHandler: req.GetRuntimeHandler()})
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.RestorePodResponse{PodSandboxId: sb.ID}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, undoRestore(ctx, pods, svc, resp))
		}
	}()
	for _, cfg := range req.GetContainerConfigs() {
		if err := validateContainerConfig(sb.ID, cfg); err != nil {
			return nil, err
		}
		name := cfg.GetMetadata().GetName()
		c, err := svc.Create(ctx, container.CreateRequest{
			PodID: sb.ID, Config: cfg, Checkpoint: filepath.Join(req.GetCheckpointPath(), name),
			RestoreTCPEstablished: tcpEstablished,
		})
		if err != nil {
			return nil, fmt.Errorf("restore container %s: %w", name, err)
		}
		resp.RestoredContainers = append(resp.RestoredContainers, &runtimeapi.RestoredContainer{Name: name, ContainerId: c.ID})
	}
	return resp, nil
}

// checkRestoreNames checks that the request's container names are exactly
// the checkpoint's, and returns the checkpoint's pod.options.
func checkRestoreNames(req *runtimeapi.RestorePodRequest) (checkpoint.PodOptions, error) {
	o, err := checkpoint.ReadPodOptions(req.GetCheckpointPath())
	if err != nil {
		return o, err
	}
	if len(o.Containers) != len(req.GetContainerConfigs()) {
		return o, fmt.Errorf("the checkpoint holds %d containers, the request configures %d: %w", len(o.Containers), len(req.GetContainerConfigs()), errdefs.ErrInvalidArgument)
	}
	for _, c := range req.GetContainerConfigs() {
		name := c.GetMetadata().GetName()
		if _, ok := o.Containers[name]; !ok {
			return o, fmt.Errorf("container %q is not in the checkpoint: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	return o, nil
}

// undoRestore removes what a failed RestorePod created: its containers,
// then its pod, with a fresh bounded context.
func undoRestore(ctx context.Context, pods PodService, svc ContainerService, resp *runtimeapi.RestorePodResponse) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	for _, rc := range resp.RestoredContainers {
		errs = append(errs, svc.Remove(cctx, rc.ContainerId))
	}
	errs = append(errs, pods.Stop(cctx, resp.PodSandboxId), pods.Remove(cctx, resp.PodSandboxId))
	return errors.Join(errs...)
}

func validateRestorePod(req *runtimeapi.RestorePodRequest) (checkpoint.Options, error) {
	var none checkpoint.Options
	if err := checkpoint.CheckLocation(req.GetCheckpointPath()); err != nil {
		return none, err
	}
	if req.GetConfig() == nil {
		return none, fmt.Errorf("pod sandbox config is missing: %w", errdefs.ErrInvalidArgument)
	}
	if len(req.GetContainerConfigs()) == 0 {
		return none, fmt.Errorf("container_configs is empty: %w", errdefs.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for _, c := range req.GetContainerConfigs() {
		name := c.GetMetadata().GetName()
		if name == "" || seen[name] {
			return none, fmt.Errorf("container_configs: name %q is empty or repeated: %w", name, errdefs.ErrInvalidArgument)
		}
		seen[name] = true
	}
	for _, c := range req.GetContainerConfigs() {
		if err := checkpoint.CheckName(c.GetMetadata().GetName()); err != nil {
			return none, err
		}
	}
	if err := validatePodSandboxConfig(req.GetConfig()); err != nil {
		return none, err
	}
	return checkpoint.ParseOptions(req.GetOptions())
}
