package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// The RPCs below are not built yet. Each answers codes.Unimplemented with a
// message naming it, never a fake success. A method moves to its own file
// (one file per RPC) when it is built.

func notImplemented(rpc, area string) error {
	return fmt.Errorf("cricket does not implement %s yet (%s): %w", rpc, area, errdefs.ErrNotImplemented)
}

// CheckpointContainer is not built yet.
func (s *Service) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return nil, notImplemented("CheckpointContainer", "checkpoint/restore")
}

// CheckpointPod is not built yet.
func (s *Service) CheckpointPod(ctx context.Context, req *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	return nil, notImplemented("CheckpointPod", "checkpoint/restore")
}

// RestorePod is not built yet.
func (s *Service) RestorePod(ctx context.Context, req *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	return nil, notImplemented("RestorePod", "checkpoint/restore")
}
