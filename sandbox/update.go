package sandbox

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CgroupResizer is implemented by a Cgroups that can change the
// limits of a pod cgroup it created.
type CgroupResizer interface {
	// Resize sizes the pod cgroup at path to resources plus overhead.
	Resize(ctx context.Context, path string, overhead, resources *runtimeapi.LinuxContainerResources) error
}

// UpdateResources is told a pod's new overhead and resources (after an
// in-place resize). Best effort, as in the peers: a pod cgroup Run created
// is resized; one the kubelet made is the kubelet's to size, and nothing
// is done for it, nor for a pod that is no longer ready.
func (s *Service) UpdateResources(ctx context.Context, id string, overhead, resources *runtimeapi.LinuxContainerResources) error {
	sb, err := s.index.Get(id)
	if err != nil {
		return err
	}
	r, ok := s.opts.Cgroups.(CgroupResizer)
	if !ok || !sb.CgroupOwned || sb.CgroupPath == "" || sb.Status().State != StateReady {
		return nil
	}
	if err := r.Resize(ctx, sb.CgroupPath, overhead, resources); err != nil {
		return fmt.Errorf("resize cgroup of pod sandbox %s: %w", sb.ID, err)
	}
	return nil
}
