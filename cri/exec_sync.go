package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ExecSync runs a command in a running container and returns its output
// and exit code. A command that outlives the request's timeout (seconds,
// 0 for none) is killed and answered with DeadlineExceeded.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	svc, err := s.containers("ExecSync")
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(max(req.GetTimeout(), 0)) * time.Second
	res, err := svc.ExecSync(ctx, req.GetContainerId(), req.GetCmd(), timeout)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ExecSyncResponse{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, nil
}
