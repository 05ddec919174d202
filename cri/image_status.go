package cri

import (
	"context"
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image"
)

// ImageStatus answers the image, or a nil image when it is absent (not an
// error: the kubelet asks before every pull).
func (s *Service) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref, err := imageRef("ImageStatus", req.GetImage())
	if err != nil {
		return nil, err
	}
	platform, err := s.imagePlatform("ImageStatus", req.GetImage())
	if err != nil {
		return nil, err
	}
	im, err := s.deps.Images.Status(ref, platform)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: toCRIImage(im)}
	if req.GetVerbose() {
		info, err := imageInfo(im)
		if err != nil {
			return nil, err
		}
		resp.Info = info
	}
	return resp, nil
}

// imageInfo is the verbose answer: the image config and its layer stack,
// as JSON under "info" like containerd.
func imageInfo(im image.Image) (map[string]string, error) {
	b, err := json.Marshal(struct {
		ID       string       `json:"id"`
		ChainIDs []string     `json:"chainIDs"`
		Layers   []string     `json:"layers"`
		Config   image.Config `json:"imageSpec"`
	}{im.ID, im.ChainIDs, im.Layers, im.Config})
	if err != nil {
		return nil, fmt.Errorf("encode info of image %s: %w", im.ID, err)
	}
	return map[string]string{"info": string(b)}, nil
}
