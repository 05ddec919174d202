package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image"
)

// ImageService is what the adapter needs from the image layer; a
// *image.Service implements it and pkg/image/imagetest has a fake.
//
// platform is a runtime handler's (os/arch[/variant]), "" for the daemon's
// own: images pulled for another platform are other images, named in that
// platform's name space (image.Service.Pull).
type ImageService interface {
	// Pull fetches ref and returns the stored image.
	Pull(ctx context.Context, ref string, auth *image.AuthConfig, platform string) (image.Image, error)
	// List returns all images, or the one filter names.
	List(filter, platform string) []image.Image
	// Status returns the image ref names; absent is errdefs.ErrNotFound.
	Status(ref, platform string) (image.Image, error)
	// Remove deletes the image ref names with all its tags; absent is success.
	Remove(ctx context.Context, ref, platform string) error
	// FsInfo reports image store and writable layer usage.
	FsInfo() (images, containers image.FsUsage, err error)
}

// toCRIImage converts a stored image to its CRI form.
func toCRIImage(im image.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          im.ID,
		RepoTags:    im.RepoTags,
		RepoDigests: im.RepoDigests,
		Size:        uint64(im.Size),
		Spec:        &runtimeapi.ImageSpec{Image: im.ID},
		Pinned:      im.Pinned,
	}
	if uid, ok := im.UID(); ok {
		out.Uid = &runtimeapi.Int64Value{Value: uid}
	} else {
		out.Username = im.Username()
	}
	return out
}

// imagePlatform is the platform images for the runtime handler of spec
// (KEP-4216: the kubelet names the pod's RuntimeClass handler) are pulled
// for: the handler's own, "" (the daemon's) for a handler without one; the
// empty name is the default handler. An unknown handler is NotFound, as
// RunPodSandbox answers for it.
func (s *Service) imagePlatform(rpc string, spec *runtimeapi.ImageSpec) (string, error) {
	name := spec.GetRuntimeHandler()
	if name == "" && len(s.cfg.Handlers) > 0 {
		return s.cfg.Handlers[0].Platform, nil
	}
	for _, h := range s.cfg.Handlers {
		if h.Name == name {
			return h.Platform, nil
		}
	}
	return "", fmt.Errorf("%s: runtime handler %q is not configured: %w", rpc, name, errdefs.ErrNotFound)
}

// imageRef returns the reference in spec, or InvalidArgument when missing.
func imageRef(rpc string, spec *runtimeapi.ImageSpec) (string, error) {
	if spec == nil || spec.Image == "" {
		return "", fmt.Errorf("%s: image spec is empty: %w", rpc, errdefs.ErrInvalidArgument)
	}
	return spec.Image, nil
}
