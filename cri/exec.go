package cri

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Exec checks that the container runs and returns the URL of a streaming
// exec session in it.
func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	streamer, err := s.streamer("Exec")
	if err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 || req.GetCmd()[0] == "" {
		return nil, fmt.Errorf("Exec: empty command: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkStreams("Exec", req.GetTty(), req.GetStdin(), req.GetStdout(), req.GetStderr()); err != nil {
		return nil, err
	}
	c, err := s.runningContainer("Exec", req.GetContainerId())
	if err != nil {
		return nil, err
	}
	// The session runs later, under the full ID the prefix stood for.
	full := proto.Clone(req).(*runtimeapi.ExecRequest)
	full.ContainerId = c.ID
	return streamer.GetExec(full)
}
