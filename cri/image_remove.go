package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage removes the image with all its tags; an absent image is
// success (the kubelet retries).
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref, err := imageRef("RemoveImage", req.GetImage())
	if err != nil {
		return nil, err
	}
	platform, err := s.imagePlatform("RemoveImage", req.GetImage())
	if err != nil {
		return nil, err
	}
	if err := s.deps.Images.Remove(ctx, ref, platform); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
