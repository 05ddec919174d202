package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxes lists the pod sandboxes the filter selects in
// messages of at most streamChunk items, for lists too big for one.
func (s *Service) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	svc, err := s.sandboxes("StreamPodSandboxes")
	if err != nil {
		return err
	}
	var items []*runtimeapi.PodSandbox
	for _, sb := range svc.List(sandboxFilter(req.GetFilter())) {
		items = append(items, toCRIPodSandbox(sb))
	}
	for _, chunk := range chunks(items, streamChunk) {
		if err := stream.Send(&runtimeapi.StreamPodSandboxesResponse{PodSandboxes: chunk}); err != nil {
			return err
		}
	}
	return nil
}
