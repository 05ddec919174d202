package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Stop stops a pod sandbox: its containers, its shim, its network, its
// namespaces, /dev/shm and cgroup, and marks it NotReady. Every step is
// idempotent, so Stop can be retried after a partial failure; a missing
// sandbox is success.
func (s *Service) Stop(ctx context.Context, id string) error {
	sb, err := s.index.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sb.op.Lock()
	defer sb.op.Unlock()
	return s.stopLocked(ctx, sb)
}

func (s *Service) stopLocked(ctx context.Context, sb *Sandbox) error {
	if c := s.containerService(); c != nil {
		if err := c.StopPod(ctx, sb.ID); err != nil {
			return fmt.Errorf("stop containers of pod sandbox %s: %w", sb.ID, err)
		}
	}
	// The teardown steps run even when the request is cancelled half-way:
	// a half-stopped pod is worse than a late answer.
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	// Plugins hear of a stop once, with the containers stopped and the pod
	// still in place.
	if sb.Status().State == StateReady {
		if err := s.opts.NRI.StopPodSandbox(cctx, sb); err != nil {
			klog.FromContext(ctx).Error(err, "NRI StopPodSandbox failed", "podSandboxID", sb.ID)
		}
	}
	if sb.Status().TornDown {
		// A CNI DEL and the rest again would cost tens of ms for each
		// Stop the kubelet repeats and for the Remove that follows.
		return nil
	}
	if err := s.teardown(cctx, sb); err != nil {
		return err
	}
	err := sb.update(func(st Status) (Status, error) {
		if st.State == StateNotReady {
			st.TornDown = true
			return st, nil
		}
		return Status{State: StateNotReady, StoppedAt: time.Now(), TornDown: true}, nil
	})
	if err != nil {
		return err
	}
	klog.FromContext(ctx).Info("pod sandbox stopped", "podSandboxID", sb.ID)
	return nil
}

// teardown releases what create acquired, in reverse order. It goes on
// after a failed step so that one stuck resource does not leak the others,
// and reports every failure.
func (s *Service) teardown(ctx context.Context, sb *Sandbox) error {
	var errs []error
	// The shim and the network are independent of each other (the
	// containers are stopped by now): they go down together, as create
	// brings them up together. Both end before anything else is released.
	shimErr := make(chan error, 1)
	go func() { shimErr <- s.opts.Shims.Stop(ctx, shimPod(sb)) }()
	netErr := s.teardownNetwork(ctx, sb.Metadata)
	if err := <-shimErr; err != nil {
		errs = append(errs, fmt.Errorf("stop shim: %w", err))
	}
	if netErr != nil {
		errs = append(errs, netErr)
	}
	if err := s.opts.Files.Remove(ctx, sb.StateDir); err != nil {
		errs = append(errs, fmt.Errorf("remove pod files: %w", err))
	}
	if err := s.opts.Namespaces.Unpin(ctx, sb.StateDir); err != nil {
		errs = append(errs, fmt.Errorf("unpin namespaces: %w", err))
	}
	if err := s.removeCgroup(ctx, sb.Metadata); err != nil {
		errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop pod sandbox %s: %w", sb.ID, errors.Join(errs...))
	}
	return nil
}
