// Package streaming is the runtime side of the CRI streaming server
// (k8s.io/cri-streaming/pkg/streaming): exec and attach through the pod's
// shim, port-forward into the pod's network namespace. It finds containers
// and pods through two narrow interfaces, Containers and Pods, declared
// here and adapted from the sandbox services by FromServices; Server runs
// the HTTP server that the URLs of the Exec, Attach and PortForward RPCs
// point at.
package streaming

import (
	"context"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
)

// ShimStreams opens streaming sessions with a pod's shim (*shimclient.Streams).
type ShimStreams interface {
	Exec(ctx context.Context, req shimclient.StreamExecRequest) (int, error)
	Attach(ctx context.Context, req shimclient.StreamAttachRequest) error
}

// Target is a running container as streaming needs it.
type Target struct {
	// ID is the container's full ID.
	ID string
	// Shim reaches the shim of the container's pod.
	Shim ShimStreams
	// Process is the container's process: an exec runs with its identity,
	// environment and security settings.
	Process *specs.Process
	// TTY, Stdin and StdinOnce are the container's CRI config.
	TTY, Stdin, StdinOnce bool
	// CheckCommand, when set, tells whether cmd can be executed in the
	// container, so that an exec of a missing binary fails before a
	// process is started.
	CheckCommand func(cmd string) error
}

// Containers finds the containers to stream from.
type Containers interface {
	// StreamTarget returns the container with ID (or unique ID prefix) id:
	// a missing one is ErrNotFound, one that is not running
	// ErrFailedPrecondition.
	StreamTarget(ctx context.Context, id string) (Target, error)
}

// Pods finds the network namespaces of pods.
type Pods interface {
	// NetNS returns the path of the pod's pinned network namespace, ""
	// for a pod on the host's network; a missing pod is ErrNotFound.
	NetNS(ctx context.Context, podID string) (string, error)
}

// Runtime implements streaming.Runtime.
type Runtime struct {
	containers Containers
	pods       Pods
	// dial opens a connection to a port of the pod's localhost.
	dial dialFunc
}

var _ streaming.Runtime = (*Runtime)(nil)

// NewRuntime returns the streaming runtime over containers and pods.
func NewRuntime(containers Containers, pods Pods) *Runtime {
	return &Runtime{containers: containers, pods: pods, dial: dialInNetNS}
}

// Exec runs cmd in the container like its own process, with the client's
// streams; a non-zero exit code is returned as a utilexec.ExitError, which
// the streaming server reports to the client as the command's exit code.
func (r *Runtime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if len(cmd) == 0 || cmd[0] == "" {
		return fmt.Errorf("exec in container %s: empty command: %w", containerID, errdefs.ErrInvalidArgument)
	}
	t, err := r.containers.StreamTarget(ctx, containerID)
	if err != nil {
		return err
	}
	if t.CheckCommand != nil {
		if err := t.CheckCommand(cmd[0]); err != nil {
			return fmt.Errorf("exec in container %s: %w", t.ID, err)
		}
	}
	p := specs.Process{}
	if t.Process != nil {
		p = *t.Process
	}
	p.Args, p.Terminal = cmd, tty
	req := shimclient.StreamExecRequest{ID: t.ID, Process: &p, Stdin: in, Resize: winsizes(ctx, resize)}
	if out != nil {
		req.Stdout = out
	}
	if errOut != nil && !tty {
		req.Stderr = errOut
	}
	code, err := t.Shim.Exec(ctx, req)
	if err != nil {
		return fmt.Errorf("exec %q in container %s: %w", cmd[0], t.ID, err)
	}
	klog.FromContext(ctx).V(4).Info("exec stream done", "containerID", t.ID, "cmd", cmd[0], "exitCode", code)
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// Attach joins the client's streams to the running container's stdio.
func (r *Runtime) Attach(ctx context.Context, containerID string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	t, err := r.containers.StreamTarget(ctx, containerID)
	if err != nil {
		return err
	}
	req := shimclient.StreamAttachRequest{ID: t.ID, CloseStdin: t.StdinOnce, Resize: winsizes(ctx, resize)}
	if in != nil && t.Stdin {
		req.Stdin = in
	}
	if out != nil {
		req.Stdout = out
	}
	if errOut != nil && !t.TTY {
		req.Stderr = errOut
	}
	if err := t.Shim.Attach(ctx, req); err != nil {
		return fmt.Errorf("attach to container %s: %w", t.ID, err)
	}
	return nil
}

// winsizes converts the server's resize events to the shim's; the
// converter ends when the server closes its channel or ctx ends.
func winsizes(ctx context.Context, in <-chan remotecommand.TerminalSize) <-chan shimapi.Winsize {
	if in == nil {
		return nil
	}
	out := make(chan shimapi.Winsize)
	go func() {
		defer close(out)
		for {
			select {
			case ts, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- shimapi.Winsize{Width: ts.Width, Height: ts.Height}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
