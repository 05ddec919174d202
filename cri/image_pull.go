package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/image"
)

// PullImage pulls the image and answers its ID (the config digest), the
// same ID ListImages, ImageStatus and containers report. The image's
// runtime_handler picks the platform it is pulled for (imagePlatform).
func (s *Service) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref, err := imageRef("PullImage", req.GetImage())
	if err != nil {
		return nil, err
	}
	platform, err := s.imagePlatform("PullImage", req.GetImage())
	if err != nil {
		return nil, err
	}
	im, err := s.deps.Images.Pull(ctx, ref, toAuthConfig(req.GetAuth()), platform)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PullImageResponse{ImageRef: im.ID}, nil
}

func toAuthConfig(a *runtimeapi.AuthConfig) *image.AuthConfig {
	if a == nil {
		return nil
	}
	return &image.AuthConfig{
		Username:      a.Username,
		Password:      a.Password,
		Auth:          a.Auth,
		ServerAddress: a.ServerAddress,
		IdentityToken: a.IdentityToken,
		RegistryToken: a.RegistryToken,
	}
}
