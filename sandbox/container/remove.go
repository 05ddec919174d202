package container

import (
	"context"
	"errors"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/securefs"
)

// Remove removes a container, killing it first when it runs: its process
// in the shim, its rootfs, its bundle and its record. A missing container
// is success. Log files are the kubelet's and stay.
func (s *Service) Remove(ctx context.Context, id string) error {
	c, err := s.index.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.removed {
		return nil
	}
	if err := s.stopLocked(ctx, c, 0); err != nil {
		return err
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := s.deleteProcess(cctx, c); err != nil {
		return err
	}
	if err := s.unpinHostMounts(c.Metadata); err != nil {
		return fmt.Errorf("unmount host paths of container %s: %w", c.ID, err)
	}
	if err := s.unmountImageVolumes(cctx, c.Metadata); err != nil {
		return fmt.Errorf("unmount image volumes of container %s: %w", c.ID, err)
	}
	if err := s.opts.Rootfs.Unmount(cctx, c.ID, c.Rootfs); err != nil {
		return fmt.Errorf("unmount rootfs of container %s: %w", c.ID, err)
	}
	if err := securefs.RemoveAllUnmounted(c.Bundle); err != nil {
		return fmt.Errorf("remove bundle of container %s: %w", c.ID, err)
	}
	if err := s.opts.Store.Delete(bucket, c.ID); err != nil {
		return fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	if err := s.opts.NRI.RemoveContainer(cctx, c); err != nil {
		klog.FromContext(ctx).Error(err, "NRI RemoveContainer failed", "containerID", c.ID)
	}
	c.removed = true
	s.index.Delete(c.ID)
	s.names.Release(c.Name, c.ID)
	s.publish(runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT, c)
	klog.FromContext(ctx).Info("container removed", "containerID", c.ID)
	return nil
}

// deleteProcess removes c from its shim, which may hold it even when it
// never ran (a start that failed late). A pod that is gone or stopped took
// its shim along; what the shim left behind is reaped here.
func (s *Service) deleteProcess(ctx context.Context, c *Container) error {
	sh, _, err := s.shimOf(ctx, c)
	if errdefs.IsNotFound(err) || errors.Is(err, errdefs.ErrUnavailable) {
		// Nobody deletes the container's cgroup (or stops what may still
		// run in it) but us.
		return s.reapOrphan(ctx, c)
	}
	if err != nil {
		return err
	}
	if err := sh.Delete(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) && !errors.Is(err, errdefs.ErrUnavailable) {
		return fmt.Errorf("delete process of container %s: %w", c.ID, err)
	}
	return nil
}

// RemovePod removes every container of the pod.
func (s *Service) RemovePod(ctx context.Context, podID string) error {
	var errs []error
	for _, c := range s.podContainers(podID) {
		if err := s.Remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
