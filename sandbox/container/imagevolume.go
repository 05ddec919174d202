package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// ImageVolume is an image mounted read-only into a container (a CRI mount
// with an image instead of a host path).
type ImageVolume struct {
	ContainerPath string `json:"containerPath"`
	// ImageID is the image mounted, reported back in the status.
	ImageID string `json:"imageID"`
	// Source is what is bind-mounted: the image's mounted rootfs, or the
	// requested sub-path inside it.
	Source string `json:"source"`
}

// imageVolumeMount names the writable layer and mount point of the image
// volume of mount index i. They derive from the container alone, so that
// the volumes of a container whose creation was cut short can be found.
func imageVolumeMount(md Metadata, i int) (key, target string) {
	return md.ID + "-iv" + strconv.Itoa(i), filepath.Join(md.Bundle, "imagevols", strconv.Itoa(i))
}

// mountImageVolumes mounts every image volume of md's config, with the
// container's SELinux mount label; on error it unmounts what it mounted.
func (s *Service) mountImageVolumes(ctx context.Context, md Metadata, handler, mountLabel string) (_ []ImageVolume, retErr error) {
	var vols []ImageVolume
	defer undo(ctx, &retErr, "unmount image volumes", func(c context.Context) error { return s.unmountImageVolumes(c, md) })
	for i, m := range md.Config.GetMounts() {
		if m.GetImage() == nil {
			continue
		}
		if !m.GetReadonly() {
			return nil, fmt.Errorf("image volume at %s must be read-only: %w", m.GetContainerPath(), errdefs.ErrInvalidArgument)
		}
		img, err := s.opts.Images.Resolve(ctx, m.GetImage().GetImage(), handler)
		if err != nil {
			return nil, fmt.Errorf("image volume at %s: %w", m.GetContainerPath(), err)
		}
		key, target := imageVolumeMount(md, i)
		if err := os.MkdirAll(target, 0o711); err != nil {
			return nil, fmt.Errorf("create image volume mount point: %w", err)
		}
		if err := s.opts.Rootfs.Mount(ctx, key, img, target, mountLabel); err != nil {
			return nil, fmt.Errorf("mount image volume at %s: %w", m.GetContainerPath(), err)
		}
		src, err := subPath(target, m.GetImageSubPath())
		if err != nil {
			return nil, err
		}
		vols = append(vols, ImageVolume{ContainerPath: m.GetContainerPath(), ImageID: img.ID, Source: src})
	}
	return vols, nil
}

// subPath resolves sub inside root without leaving it; it must exist.
func subPath(root, sub string) (string, error) {
	if sub == "" {
		return root, nil
	}
	p, err := securejoin.SecureJoin(root, sub)
	if err != nil {
		return "", fmt.Errorf("image sub-path %q: %w: %w", sub, err, errdefs.ErrInvalidArgument)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("image sub-path %q: %w: %w", sub, err, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// unmountImageVolumes unmounts every image volume md's config can have;
// ones never mounted are no error.
func (s *Service) unmountImageVolumes(ctx context.Context, md Metadata) error {
	var errs []error
	for i, m := range md.Config.GetMounts() {
		if m.GetImage() == nil {
			continue
		}
		key, target := imageVolumeMount(md, i)
		errs = append(errs, s.opts.Rootfs.Unmount(ctx, key, target))
	}
	return errors.Join(errs...)
}

// mountSources maps the container paths of image volumes to their sources,
// as the spec builder wants.
func mountSources(vols []ImageVolume) map[string]string {
	if len(vols) == 0 {
		return nil
	}
	m := make(map[string]string, len(vols))
	for _, v := range vols {
		m[v.ContainerPath] = v.Source
	}
	return m
}
