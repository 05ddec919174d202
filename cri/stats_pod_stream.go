package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxStats measures the ready pod sandboxes the filter
// selects and sends them in batches of at most statsBatch, each pod once;
// the stream ends (EOF) after the last batch.
func (s *Service) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	d, err := s.statsServices("StreamPodSandboxStats")
	if err != nil {
		return err
	}
	b := &batcher[*runtimeapi.PodSandboxStats]{n: statsBatch, send: func(items []*runtimeapi.PodSandboxStats) error {
		return stream.Send(&runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: items})
	}}
	if err := d.eachPodStats(stream.Context(), req.GetFilter(), b.add); err != nil {
		return err
	}
	return b.flush()
}
