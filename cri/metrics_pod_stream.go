package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxMetrics sends the metrics of every ready pod sandbox in
// batches of at most statsBatch pods, each pod once; the stream ends (EOF)
// after the last batch.
func (s *Service) StreamPodSandboxMetrics(req *runtimeapi.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	d, err := s.statsServices("StreamPodSandboxMetrics")
	if err != nil {
		return err
	}
	b := &batcher[*runtimeapi.PodSandboxMetrics]{n: statsBatch, send: func(items []*runtimeapi.PodSandboxMetrics) error {
		return stream.Send(&runtimeapi.StreamPodSandboxMetricsResponse{PodSandboxMetrics: items})
	}}
	if err := d.eachPodMetrics(stream.Context(), b.add); err != nil {
		return err
	}
	return b.flush()
}
