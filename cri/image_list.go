package cri

import (
	"context"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// streamBatch is how many images one StreamImages message carries.
const streamBatch = 100

// ListImages lists the images, or the one the filter names.
func (s *Service) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	images, err := s.listImages("ListImages", req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListImagesResponse{Images: images}, nil
}

// StreamImages sends what ListImages would answer in batches, so that a
// node with many images stays under the gRPC message limit.
func (s *Service) StreamImages(req *runtimeapi.StreamImagesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamImagesResponse]) error {
	images, err := s.listImages("StreamImages", req.GetFilter())
	if err != nil {
		return err
	}
	for start := 0; start < len(images); start += streamBatch {
		end := min(start+streamBatch, len(images))
		if err := stream.Send(&runtimeapi.StreamImagesResponse{Images: images[start:end]}); err != nil {
			return err
		}
	}
	return nil
}

// listImages lists every image, or the one the filter names as pulled for
// its runtime handler.
func (s *Service) listImages(rpc string, f *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	platform, err := s.imagePlatform(rpc, f.GetImage())
	if err != nil {
		return nil, err
	}
	found := s.deps.Images.List(f.GetImage().GetImage(), platform)
	out := make([]*runtimeapi.Image, 0, len(found))
	for _, im := range found {
		out = append(out, toCRIImage(im))
	}
	return out, nil
}
