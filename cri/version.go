package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	// RuntimeName is reported by the Version RPC.
	RuntimeName = "cricket"
	// apiVersion is the CRI API version served.
	apiVersion = "v1"
	// kubeAPIVersion is the version of the CRI API proto ("0.1.0" by
	// convention; kubelets do not interpret it).
	kubeAPIVersion = "0.1.0"
)

// Version returns the runtime name, its version and the CRI API version.
func (s *Service) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           kubeAPIVersion,
		RuntimeName:       RuntimeName,
		RuntimeVersion:    s.cfg.RuntimeVersion,
		RuntimeApiVersion: apiVersion,
	}, nil
}
