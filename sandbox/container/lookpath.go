package container

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// FSLookPath returns a LookPath over the container rootfs seen through
// open (oci.RootFS on Linux, which keeps symlinks inside the rootfs). A
// command that may live in a volume mount is not checked: the mounts are
// not visible in the rootfs on the host.
func FSLookPath(open func(rootfs string) fs.FS) LookPath {
	return func(rootfs string, env []string, mounts []*runtimeapi.Mount, cmd string) error {
		fsys := open(rootfs)
		cands := candidates(env, cmd)
		if cands == nil {
			return nil
		}
		for _, cand := range cands {
			if underMount(cand, mounts) || isExecutable(fsys, cand) {
				return nil
			}
		}
		return fmt.Errorf("executable %q not found in the container's $PATH: %w", cmd, errdefs.ErrInvalidArgument)
	}
}

// candidates are the absolute paths cmd may name: itself when it is
// absolute, else one per $PATH entry. A relative path with a slash depends
// on the working directory and is not checked (nil).
func candidates(env []string, cmd string) []string {
	if path.IsAbs(cmd) {
		return []string{path.Clean(cmd)}
	}
	if strings.Contains(cmd, "/") {
		return nil
	}
	p := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	var out []string
	for _, dir := range strings.Split(p, ":") {
		if path.IsAbs(dir) {
			out = append(out, path.Join(dir, cmd))
		}
	}
	return out
}

func underMount(p string, mounts []*runtimeapi.Mount) bool {
	for _, m := range mounts {
		dst := path.Clean("/" + m.GetContainerPath())
		if p == dst || strings.HasPrefix(p, dst+"/") || dst == "/" {
			return true
		}
	}
	return false
}

func isExecutable(fsys fs.FS, p string) bool {
	fi, err := fs.Stat(fsys, strings.TrimPrefix(p, "/"))
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}
