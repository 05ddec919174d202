package cri

import (
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// Streamer hands out the URLs of streaming sessions
// (*cri/streaming.Server, over k8s.io/cri-streaming). The handlers
// check the container or pod first; the streamer checks the request's
// shape again and remembers it under a one-time token.
type Streamer interface {
	GetExec(*runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error)
	GetAttach(*runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error)
	GetPortForward(*runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error)
}

const streamingArea = "streaming"

// streamer returns the streaming server, or an Unimplemented error naming
// rpc while the daemon runs without one.
func (s *Service) streamer(rpc string) (Streamer, error) {
	if s.deps.Streaming == nil {
		return nil, notImplemented(rpc, streamingArea)
	}
	return s.deps.Streaming, nil
}

// checkStreams applies the CRI's rules for the streams of an exec or an
// attach (api.proto): a terminal has no separate stderr, and a session
// without any stream is pointless.
func checkStreams(what string, tty, stdin, stdout, stderr bool) error {
	if tty && stderr {
		return fmt.Errorf("%s: tty and stderr cannot both be true: %w", what, errdefs.ErrInvalidArgument)
	}
	if !stdin && !stdout && !stderr {
		return fmt.Errorf("%s: one of stdin, stdout and stderr must be set: %w", what, errdefs.ErrInvalidArgument)
	}
	return nil
}

// runningContainer returns the container id names (or uniquely prefixes)
// when it runs: a missing one is NotFound, any other state
// FailedPrecondition.
func (s *Service) runningContainer(rpc, id string) (*container.Container, error) {
	svc, err := s.containers(rpc)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("%s: container id is required: %w", rpc, errdefs.ErrInvalidArgument)
	}
	c, err := svc.Get(id)
	if err != nil {
		return nil, err
	}
	if st := c.Status().State; st != container.StateRunning {
		return nil, fmt.Errorf("%s: container %s is %s, not running: %w", rpc, c.ID, st, errdefs.ErrFailedPrecondition)
	}
	return c, nil
}
