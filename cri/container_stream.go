package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamContainers lists the containers the filter selects in messages of
// at most streamChunk items.
func (s *Service) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	svc, err := s.containers("StreamContainers")
	if err != nil {
		return err
	}
	for _, chunk := range chunks(listContainers(svc, req.GetFilter()), streamChunk) {
		if err := stream.Send(&runtimeapi.StreamContainersResponse{Containers: chunk}); err != nil {
			return err
		}
	}
	return nil
}
