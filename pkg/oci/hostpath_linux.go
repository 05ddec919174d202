package oci

import (
	"fmt"
	"path/filepath"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// ResolveHostMounts resolves the host_path of every bind mount of cfg (the
// mounts that are not image volumes) on the host: symlinks in the host path
// are followed once, here, and the result is what gets mounted, so the
// runtime never walks a path a symlink could redirect later. A missing host
// path is an InvalidArgument error: Cricket does not create it (the
// kubelet creates hostPath volumes of type DirectoryOrCreate itself).
// sources maps container paths already resolved (image volumes); the
// result adds the bind mounts to a copy of it.
func ResolveHostMounts(cfg *runtimeapi.ContainerConfig, sources map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(sources)+len(cfg.GetMounts()))
	for k, v := range sources {
		out[k] = v
	}
	for _, m := range cfg.GetMounts() {
		if m.GetImage().GetImage() != "" {
			continue
		}
		host := m.GetHostPath()
		if !filepath.IsAbs(host) {
			return nil, invalid("host path %q of mount %s is not an absolute path", host, m.GetContainerPath())
		}
		p, err := filepath.EvalSymlinks(host)
		if err != nil {
			return nil, fmt.Errorf("host path of mount %s: %w: %w", m.GetContainerPath(), err, errdefs.ErrInvalidArgument)
		}
		out[m.GetContainerPath()] = p
	}
	return out, nil
}
