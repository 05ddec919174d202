package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// PodService is what the adapter needs from the pod sandbox service
// (*sandbox.Service).
type PodService interface {
	Run(ctx context.Context, req sandbox.RunRequest) (*sandbox.Sandbox, error)
	Stop(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	Get(id string) (*sandbox.Sandbox, error)
	List(f sandbox.Filter) []*sandbox.Sandbox
	UpdateResources(ctx context.Context, id string, overhead, resources *runtimeapi.LinuxContainerResources) error
}

// ContainerService is what the adapter needs from the container service
// (*container.Service).
type ContainerService interface {
	Create(ctx context.Context, req container.CreateRequest) (*container.Container, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	Get(id string) (*container.Container, error)
	List(f container.Filter) []*container.Container
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (container.ExecResult, error)
	ReopenLog(ctx context.Context, id string) error
	Update(ctx context.Context, id string, r *runtimeapi.LinuxContainerResources) error
	Checkpoint(ctx context.Context, id, location string, timeout time.Duration) error
	CheckpointPod(ctx context.Context, podID string, ids []string, outDir string, opts checkpoint.Options) error
	// CheckCRIU is nil when checkpoint and restore can work on this host,
	// otherwise why not (FailedPrecondition).
	CheckCRIU() error
}

const podsArea = "pods and containers"

// sandboxes returns the sandbox service, or an Unimplemented error naming
// rpc while the daemon runs without one.
func (s *Service) sandboxes(rpc string) (PodService, error) {
	if s.deps.Pods == nil {
		return nil, notImplemented(rpc, podsArea)
	}
	return s.deps.Pods, nil
}

// containers returns the container service, or an Unimplemented error
// naming rpc while the daemon runs without one.
func (s *Service) containers(rpc string) (ContainerService, error) {
	if s.deps.Containers == nil {
		return nil, notImplemented(rpc, podsArea)
	}
	return s.deps.Containers, nil
}
