package container

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// MaxExecOutput caps each captured stream of ExecSync, as the CRI asks
// (CVE-2022-1708).
const MaxExecOutput = 16 << 20

// ExecSync runs cmd in a running container with the container's identity,
// environment and security settings and returns its output and exit code.
// A timeout kills the command and returns an error wrapping
// context.DeadlineExceeded.
func (s *Service) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (ExecResult, error) {
	c, err := s.runningContainer(id)
	if err != nil {
		return ExecResult{}, err
	}
	if len(cmd) == 0 || cmd[0] == "" {
		return ExecResult{}, fmt.Errorf("exec in container %s: empty command: %w", c.ID, errdefs.ErrInvalidArgument)
	}
	if s.opts.LookPath != nil {
		if err := s.opts.LookPath(c.Rootfs, c.Process.Env, c.Config.GetMounts(), cmd[0]); err != nil {
			return ExecResult{}, fmt.Errorf("exec in container %s: %w", c.ID, err)
		}
	}
	sh, _, err := s.shimOf(ctx, c)
	if err != nil {
		return ExecResult{}, err
	}
	p := *c.Process
	p.Args, p.Terminal = cmd, false
	res, err := sh.Exec(ctx, ExecRequest{ID: c.ID, Process: &p, Timeout: timeout, MaxOutput: MaxExecOutput})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: %w", cmd[0], c.ID, err)
	}
	if res.TimedOut {
		return res, fmt.Errorf("exec %q in container %s: command timed out after %s: %w", cmd[0], c.ID, timeout, context.DeadlineExceeded)
	}
	klog.FromContext(ctx).V(4).Info("exec done", "containerID", c.ID, "cmd", cmd[0], "exitCode", res.ExitCode)
	return res, nil
}

// ReopenLog makes the shim reopen the container's log file after the
// kubelet rotated it.
func (s *Service) ReopenLog(ctx context.Context, id string) error {
	c, err := s.runningContainer(id)
	if err != nil {
		return err
	}
	sh, _, err := s.shimOf(ctx, c)
	if err != nil {
		return err
	}
	if err := sh.ReopenLog(ctx, c.ID); err != nil {
		return fmt.Errorf("reopen log of container %s: %w", c.ID, err)
	}
	return nil
}

func (s *Service) runningContainer(id string) (*Container, error) {
	c, err := s.index.Get(id)
	if err != nil {
		return nil, err
	}
	if st := c.Status().State; st != StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st, errdefs.ErrFailedPrecondition)
	}
	return c, nil
}
