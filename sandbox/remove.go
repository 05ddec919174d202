package sandbox

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/securefs"
)

// Remove removes a pod sandbox: it stops it if needed, removes its
// containers (forcibly), its state dir and its record, and frees its name.
// A missing sandbox is success.
func (s *Service) Remove(ctx context.Context, id string) error {
	sb, err := s.index.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sb.op.Lock()
	defer sb.op.Unlock()
	if _, err := s.index.Get(sb.ID); errdefs.IsNotFound(err) {
		return nil // removed while we waited for the lock
	}
	if err := s.stopLocked(ctx, sb); err != nil {
		return err
	}
	if c := s.containerService(); c != nil {
		if err := c.RemovePod(ctx, sb.ID); err != nil {
			return fmt.Errorf("remove containers of pod sandbox %s: %w", sb.ID, err)
		}
	}
	if err := s.opts.NRI.RemovePodSandbox(ctx, sb); err != nil {
		klog.FromContext(ctx).Error(err, "NRI RemovePodSandbox failed", "podSandboxID", sb.ID)
	}
	if err := securefs.RemoveAllUnmounted(sb.StateDir); err != nil {
		return fmt.Errorf("remove state dir of pod sandbox %s: %w", sb.ID, err)
	}
	if err := s.opts.Store.Delete(bucket, sb.ID); err != nil {
		return fmt.Errorf("remove pod sandbox %s: %w", sb.ID, err)
	}
	s.index.Delete(sb.ID)
	s.names.Release(sb.Name, sb.ID)
	s.opts.Labels.Release(sb.SELinux)
	klog.FromContext(ctx).Info("pod sandbox removed", "podSandboxID", sb.ID)
	return nil
}
