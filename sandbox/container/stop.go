package container

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Stop stops a running container: its stop signal, then after timeout
// SIGKILL to every process of it. It returns once the exit is recorded. A
// missing or not running container is success.
func (s *Service) Stop(ctx context.Context, id string, timeout time.Duration) error {
	c, err := s.index.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.Status().State != StateRunning {
		return s.reapIfShimGone(ctx, c)
	}
	return s.stopLocked(ctx, c, timeout)
}

// reapIfShimGone: a container that does not run has nothing to stop,
// unless its pod's shim is gone. Then what that shim made of it runs on
// with nobody to end it: a created container's init waiting to be
// started, or what was left when an init exited as its shim was killed
// (found by test/fault: a created container's "cricket-shim init" in a
// shared-PID pod outlived StopContainer). Its cgroup ends it, as at
// restart; nothing left is success.
func (s *Service) reapIfShimGone(ctx context.Context, c *Container) error {
	if c.removed {
		return nil
	}
	if _, _, err := s.shimOf(ctx, c); !errors.Is(err, errdefs.ErrUnavailable) {
		return nil
	}
	return s.reapOrphan(ctx, c)
}

func (s *Service) stopLocked(ctx context.Context, c *Container, timeout time.Duration) error {
	if c.Status().State != StateRunning {
		return nil
	}
	// The grace period is the container's, not the caller's: a client
	// that gives up on the request must not cut it short into a SIGKILL
	// (found by test/fault). The stop goes on; a retry waits for it.
	ctx = context.WithoutCancel(ctx)
	logger := klog.FromContext(ctx).WithValues("containerID", c.ID)
	sh, _, err := s.shimOf(ctx, c)
	if err != nil {
		// Without a shim nothing can be signalled; the watcher records the
		// exit from disk once it notices the shim is gone.
		return s.awaitExit(ctx, c, killWait, err)
	}
	if timeout > 0 {
		if err := s.kill(ctx, c, sh, c.StopSignal, false); err != nil {
			return err
		}
		select {
		case <-c.Exited():
			logger.Info("container stopped", "signal", c.StopSignal)
			return nil
		case <-time.After(timeout):
			logger.Info("container ignored its stop signal, killing it", "signal", c.StopSignal, "timeout", timeout)
		}
	}
	if err := s.kill(ctx, c, sh, syscall.SIGKILL, true); err != nil {
		return err
	}
	return s.awaitExit(ctx, c, killWait, nil)
}

// kill signals c; an error is no error when c exited meanwhile.
func (s *Service) kill(ctx context.Context, c *Container, sh Shim, sig syscall.Signal, all bool) error {
	err := sh.Kill(ctx, c.ID, sig, all)
	if err == nil {
		return nil
	}
	select {
	case <-c.Exited():
		return nil
	default:
	}
	if errdefs.IsNotFound(err) {
		// The shim no longer knows the process: it ended; its exit is on
		// its way to the watcher.
		return nil
	}
	return fmt.Errorf("signal %d to container %s: %w", sig, c.ID, err)
}

// awaitExit waits for c's exit for at most max (or ctx).
func (s *Service) awaitExit(ctx context.Context, c *Container, max time.Duration, cause error) error {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-c.Exited():
		klog.FromContext(ctx).Info("container stopped", "containerID", c.ID)
		return nil
	case <-t.C:
	case <-ctx.Done():
		cause = errors.Join(cause, ctx.Err())
	}
	return fmt.Errorf("container %s did not exit: %w", c.ID, errors.Join(cause, errdefs.ErrUnavailable))
}

// StopPod stops every container of the pod at once, without grace period.
func (s *Service) StopPod(ctx context.Context, podID string) error {
	var errs []error
	for _, c := range s.podContainers(podID) {
		if err := s.Stop(ctx, c.ID, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
