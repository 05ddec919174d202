package cri

import (
	"context"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Attach checks that the container runs and returns the URL of a
// streaming session on its stdio.
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	streamer, err := s.streamer("Attach")
	if err != nil {
		return nil, err
	}
	if err := checkStreams("Attach", req.GetTty(), req.GetStdin(), req.GetStdout(), req.GetStderr()); err != nil {
		return nil, err
	}
	c, err := s.runningContainer("Attach", req.GetContainerId())
	if err != nil {
		return nil, err
	}
	full := proto.Clone(req).(*runtimeapi.AttachRequest)
	full.ContainerId = c.ID
	return streamer.GetAttach(full)
}
