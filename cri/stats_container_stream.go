package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamContainerStats measures the containers the filter selects and
// sends them in batches of at most statsBatch, each container once; the
// stream ends (EOF) after the last batch.
func (s *Service) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	d, err := s.statsServices("StreamContainerStats")
	if err != nil {
		return err
	}
	b := &batcher[*runtimeapi.ContainerStats]{n: statsBatch, send: func(items []*runtimeapi.ContainerStats) error {
		return stream.Send(&runtimeapi.StreamContainerStatsResponse{ContainerStats: items})
	}}
	if err := d.eachContainerStats(stream.Context(), req.GetFilter(), b.add); err != nil {
		return err
	}
	return b.flush()
}
