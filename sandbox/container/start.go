package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/securefs"
)

// Start creates the container's process in its pod's shim and starts it.
// A container that fails to start is reported Exited with reason
// StartError, as the kubelet expects.
func (s *Service) Start(ctx context.Context, id string) error {
	c, err := s.index.Get(id)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.removed {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if st := c.Status().State; st != StateCreated {
		return fmt.Errorf("container %s is %s, not created: %w", c.ID, st, errdefs.ErrFailedPrecondition)
	}
	// The start runs to its end even when the caller gives up: a process
	// half-created in the shim could not be told apart from a live one.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	sh, err := s.startProcess(sctx, c)
	if err != nil {
		s.markStartError(ctx, c, err)
		return err
	}
	go s.watch(context.WithoutCancel(ctx), c, sh)
	if err := s.opts.NRI.PostStartContainer(ctx, c); err != nil {
		klog.FromContext(ctx).Error(err, "NRI PostStartContainer failed", "containerID", c.ID)
	}
	klog.FromContext(ctx).Info("container started", "containerID", c.ID, "pid", c.Status().Pid)
	return nil
}

func (s *Service) startProcess(ctx context.Context, c *Container) (_ Shim, retErr error) {
	sh, pod, err := s.shimOf(ctx, c)
	if err != nil {
		if errors.Is(err, errdefs.ErrUnavailable) {
			// The container is about to be reported exited, but an
			// attempt cut short by a daemon kill may have had the shim
			// create or even start it before the shim died (found by
			// test/fault): its cgroup ends what runs.
			if rerr := s.reapOrphan(ctx, c); rerr != nil {
				klog.FromContext(ctx).Error(rerr, "cannot kill what the lost shim made of the container", "containerID", c.ID)
			}
		}
		return nil, err
	}
	if !pod.Ready {
		return nil, fmt.Errorf("pod sandbox %s of container %s is not ready: %w", pod.ID, c.ID, errdefs.ErrFailedPrecondition)
	}
	logDir, err := makeLogDir(pod, c)
	if err != nil {
		return nil, err
	}
	defer undo(ctx, &retErr, "delete process", func(cc context.Context) error {
		err := sh.Delete(cc, c.ID)
		if errors.Is(err, errdefs.ErrUnavailable) {
			// The shim is gone: what it made of the container (an init
			// waiting to be started) goes through the container's cgroup.
			return s.reapOrphan(cc, c)
		}
		return err
	})
	err = sh.Create(ctx, ShimCreate{
		ID: c.ID, Bundle: c.Bundle, RuntimeHandler: pod.RuntimeHandler, LogPath: c.LogPath, LogDir: logDir,
		Stdin: c.Config.GetStdin(), Terminal: c.Config.GetTty(), Restore: c.Restore,
	})
	if err != nil {
		return nil, fmt.Errorf("create process of container %s: %w", c.ID, err)
	}
	// The container's mount namespace holds its own copies of the pinned
	// host paths now. Left in the host's namespace, the pins would keep the
	// host from removing directories that were mount points below them.
	if err := s.unpinHostMounts(c.Metadata); err != nil {
		klog.FromContext(ctx).Error(err, "unmount pinned host paths", "containerID", c.ID)
	}
	if err := s.opts.NRI.StartContainer(ctx, c); err != nil {
		return nil, fmt.Errorf("NRI StartContainer of container %s: %w", c.ID, err)
	}
	ps, err := sh.Start(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("start container %s: %w", c.ID, err)
	}
	err = c.update(func(st Status) (Status, error) {
		st.State, st.Pid, st.StartedAt = StateRunning, ps.Pid, ps.StartedAt
		if st.StartedAt.IsZero() {
			st.StartedAt = time.Now()
		}
		return st, nil
	})
	return sh, err
}

func (s *Service) markStartError(ctx context.Context, c *Container, cause error) {
	err := c.update(func(st Status) (Status, error) {
		st.State, st.FinishedAt, st.ExitCode = StateExited, time.Now(), exitCodeStartError
		st.Reason, st.Message = ReasonStartError, cause.Error()
		return st, nil
	})
	if err != nil {
		klog.FromContext(ctx).Error(err, "cannot record start failure", "containerID", c.ID)
	}
}

// startTimeout bounds StartContainer's work in the shim.
const startTimeout = time.Minute

// watchRetries is how often watch reconnects to a shim before it believes
// the shim is gone.
const watchRetries = 3

// watch waits for the container's exit and records it. When the shim's
// connection breaks it reconnects; when the shim is gone for good it takes
// the exit from the shim's records on disk.
func (s *Service) watch(ctx context.Context, c *Container, sh Shim) {
	logger := klog.FromContext(ctx).WithValues("containerID", c.ID)
	for attempt := 0; ; attempt++ {
		e, err := sh.Wait(ctx, c.ID)
		if err == nil {
			s.recordExit(ctx, c, e)
			return
		}
		if attempt >= watchRetries || !errors.Is(err, errdefs.ErrUnavailable) {
			logger.Error(err, "lost the container's shim, taking its exit from disk")
			s.recordLastState(ctx, c)
			return
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		if next, _, err := s.shimOf(ctx, c); err == nil {
			sh = next
		}
	}
}

func (s *Service) recordExit(ctx context.Context, c *Container, e Exit) {
	err := c.update(func(st Status) (Status, error) {
		if st.State == StateExited {
			return st, nil
		}
		return exited(st, e), nil
	})
	if err != nil {
		klog.FromContext(ctx).Error(err, "cannot record container exit", "containerID", c.ID)
		return
	}
	klog.FromContext(ctx).Info("container exited", "containerID", c.ID, "exitCode", e.Code, "oomKilled", e.OOMKilled)
}

// recordLastState records the exit the shim left on disk, or an unknown
// exit when there is none.
func (s *Service) recordLastState(ctx context.Context, c *Container) {
	// A container outlives a shim killed under it: it must not run on
	// while it is reported exited (and restarted beside itself).
	if err := s.reapOrphan(ctx, c); err != nil {
		klog.FromContext(ctx).Error(err, "cannot kill what is left of a container whose shim is gone", "containerID", c.ID)
	}
	e := Exit{Code: exitCodeUnknown, At: time.Now()}
	known := false
	if pod, err := s.opts.Pods.Pod(c.PodID); err == nil {
		if ps, err := s.opts.Shims.LastState(pod, c.ID); err == nil && ps.Exit != nil {
			e, known = *ps.Exit, true
		}
	}
	if known {
		s.recordExit(ctx, c, e)
		return
	}
	err := c.update(func(st Status) (Status, error) {
		if st.State == StateExited {
			return st, nil
		}
		st = exited(st, e)
		st.Reason, st.Message = ReasonUnknown, "the container's shim is gone and left no exit record"
		return st, nil
	})
	if err != nil {
		klog.FromContext(ctx).Error(err, "cannot record container exit", "containerID", c.ID)
	}
}

// makeLogDir creates the directories of the container's log file and
// returns the pod's log directory. The pod's directory is the kubelet's and
// trusted; the components of the container's log path below it are
// created without following a symlink out of it, since a container may
// share that directory through a volume.
func makeLogDir(pod Pod, c *Container) (string, error) {
	if c.LogPath == "" {
		return "", nil
	}
	dir := pod.Config.GetLogDirectory()
	if dir == "" {
		dir = filepath.Dir(c.LogPath)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create log dir of container %s: %w", c.ID, err)
	}
	rel, err := filepath.Rel(dir, filepath.Dir(c.LogPath))
	if err != nil || !filepath.IsLocal(rel) && rel != "." {
		return "", fmt.Errorf("log path %s of container %s is not below the pod log dir %s: %w", c.LogPath, c.ID, dir, errdefs.ErrInvalidArgument)
	}
	if err := securefs.MkdirAllBeneath(dir, rel, 0o755); err != nil {
		return "", fmt.Errorf("create log dir of container %s: %w", c.ID, err)
	}
	return dir, nil
}

// reapOrphan kills the processes of a container whose shim is gone and
// removes its cgroup.
func (s *Service) reapOrphan(ctx context.Context, c *Container) error {
	if s.opts.Orphans == nil {
		return nil
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := s.opts.Orphans.Reap(cctx, c.Bundle); err != nil {
		return fmt.Errorf("reap container %s: %w", c.ID, err)
	}
	return nil
}
