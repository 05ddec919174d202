package streaming

import (
	"context"
	"fmt"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// ContainerGetter looks containers up (*container.Service).
type ContainerGetter interface {
	Get(id string) (*container.Container, error)
}

// PodGetter looks pod sandboxes up (*sandbox.Service).
type PodGetter interface {
	Get(id string) (*sandbox.Sandbox, error)
}

// Services adapts the pod and container services to Containers and Pods.
// A session dials the pod's shim on its stream socket; it needs no
// connection of the services' shim pool.
type Services struct {
	Containers ContainerGetter
	Pods       PodGetter
	// LookPath, when set, makes an exec of a missing command fail before
	// anything is started (container.FSLookPath).
	LookPath container.LookPath
}

var (
	_ Containers = Services{}
	_ Pods       = Services{}
)

// StreamTarget implements Containers.
func (s Services) StreamTarget(_ context.Context, id string) (Target, error) {
	c, err := s.Containers.Get(id)
	if err != nil {
		return Target{}, err
	}
	if st := c.Status().State; st != container.StateRunning {
		return Target{}, fmt.Errorf("container %s is %s, not running: %w", c.ID, st, errdefs.ErrFailedPrecondition)
	}
	sb, err := s.Pods.Get(c.PodID)
	if err != nil {
		return Target{}, fmt.Errorf("pod sandbox of container %s: %w", c.ID, err)
	}
	t := Target{
		ID:        c.ID,
		Shim:      shimclient.NewStreams(sb.StateDir),
		Process:   c.Process,
		TTY:       c.Config.GetTty(),
		Stdin:     c.Config.GetStdin(),
		StdinOnce: c.Config.GetStdinOnce(),
	}
	if s.LookPath != nil {
		var env []string
		if c.Process != nil {
			env = c.Process.Env
		}
		rootfs, mounts := c.Rootfs, c.Config.GetMounts()
		t.CheckCommand = func(cmd string) error { return s.LookPath(rootfs, env, mounts, cmd) }
	}
	return t, nil
}

// NetNS implements Pods.
func (s Services) NetNS(_ context.Context, podID string) (string, error) {
	sb, err := s.Pods.Get(podID)
	if err != nil {
		return "", err
	}
	if sb.Status().State != sandbox.StateReady {
		return "", fmt.Errorf("pod sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	return sb.Namespaces.Network, nil
}
