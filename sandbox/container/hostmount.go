package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/securefs"
)

// hostMountTarget is where the host path of mount index i is pinned: a
// directory of the bundle, which no container can reach.
func hostMountTarget(md Metadata, i int) string {
	return filepath.Join(md.Bundle, "hostmounts", strconv.Itoa(i))
}

// pinHostMounts resolves the host path of every bind mount of md's config
// and, with Options.PinHostMounts, bind-mounts what it resolved to into
// the bundle, so that the executor mounts that and nothing a container
// swaps in later (Start drops the pins once the executor has mounted
// them). A symlink inside another container's writable volume
// must stay inside that volume. A host path that does not exist is
// created as a directory, as containerd and CRI-O do, unless it is one of
// Options.AbsentMountSourcesToReject. It returns the mount sources for
// the spec.
func (s *Service) pinHostMounts(md Metadata) (map[string]string, error) {
	var untrusted []string
	out := map[string]string{}
	for i, m := range md.Config.GetMounts() {
		if m.GetImage() != nil {
			continue
		}
		if !filepath.IsAbs(m.GetHostPath()) {
			return nil, fmt.Errorf("mount %s of container %s: host path %q is not an absolute path: %w", m.GetContainerPath(), md.ID, m.GetHostPath(), errdefs.ErrInvalidArgument)
		}
		if untrusted == nil {
			untrusted = s.writableVolumes(md.ID)
		}
		src, err := securefs.ResolveHostPath(m.GetHostPath(), untrusted)
		if errors.Is(err, os.ErrNotExist) {
			if slices.Contains(s.opts.AbsentMountSourcesToReject, filepath.Clean(m.GetHostPath())) {
				return nil, fmt.Errorf("mount %s of container %s: host path %s does not exist and is in runtime.absent_mount_sources_to_reject: %w", m.GetContainerPath(), md.ID, m.GetHostPath(), errdefs.ErrInvalidArgument)
			}
			// Created here, not left to the executor: a missing path
			// could be a symlink by the time it mounts.
			src, err = securefs.ResolveOrCreateHostPath(m.GetHostPath(), untrusted)
		}
		if err != nil {
			return nil, fmt.Errorf("mount %s of container %s: %w", m.GetContainerPath(), md.ID, err)
		}
		if s.opts.PinHostMounts {
			target := hostMountTarget(md, i)
			if err := securefs.BindNoFollow(src, target); err != nil {
				return nil, fmt.Errorf("mount %s of container %s: %w", m.GetContainerPath(), md.ID, err)
			}
			src = target
		}
		out[m.GetContainerPath()] = src
	}
	return out, nil
}

// unpinHostMounts undoes pinHostMounts; mounts never made are no error.
func (s *Service) unpinHostMounts(md Metadata) error {
	if !s.opts.PinHostMounts || md.Bundle == "" {
		return nil
	}
	var errs []error
	for i := range md.Config.GetMounts() {
		errs = append(errs, securefs.Unbind(hostMountTarget(md, i)))
	}
	return errors.Join(errs...)
}

// writableVolumes are the host paths, resolved, that the other containers
// mount read-write: directories whose content a container controls.
func (s *Service) writableVolumes(except string) []string {
	out := []string{}
	for _, c := range s.index.List() {
		if c.ID == except {
			continue
		}
		for _, m := range c.Config.GetMounts() {
			if m.GetHostPath() == "" || m.GetReadonly() || m.GetImage() != nil {
				continue
			}
			if p, err := filepath.EvalSymlinks(m.GetHostPath()); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}
