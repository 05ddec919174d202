package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// featuresTimeout bounds a runtime binary's "features" command.
const featuresTimeout = 5 * time.Second

var rroCache sync.Map // Handler -> bool

// SupportsRecursiveReadOnly reports whether h can make a bind mount
// read-only recursively (OCI mount option "rro"). That needs
// mount_setattr(2) (Linux 5.12), and for a runccli binary a "features"
// command that lists "rro": runc 1.1 has one, older runtimes and crun
// before 1.9 do not, and an unknown answer is "no" so that the kubelet
// never relies on a mount the runtime would silently leave writable. The
// answer is cached per handler.
func SupportsRecursiveReadOnly(ctx context.Context, h Handler) bool {
	if v, ok := rroCache.Load(h); ok {
		return v.(bool)
	}
	ok := kernelHasMountSetattr()
	if ok && h.Kind == KindRuncCLI {
		ok = binaryHasMountOption(ctx, h.Path, "rro")
	}
	rroCache.Store(h, ok)
	return ok
}

// kernelHasMountSetattr probes mount_setattr(2) with an invalid fd: a
// kernel that has it answers EBADF or EINVAL, one without it ENOSYS.
func kernelHasMountSetattr() bool {
	err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
}

// binaryHasMountOption asks a runc-compatible binary's "features" command
// (runtime-spec features.md) whether it knows a mount option.
func binaryHasMountOption(ctx context.Context, path, option string) bool {
	ctx, cancel := context.WithTimeout(ctx, featuresTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "features").Output()
	if err != nil {
		return false
	}
	var f struct {
		MountOptions []string `json:"mountOptions"`
	}
	if err := json.Unmarshal(out, &f); err != nil {
		return false
	}
	return slices.Contains(f.MountOptions, option)
}

var idmapCache sync.Map // Handler -> bool

// SupportsIDMappedMounts reports whether h applies the OCI mount fields
// uidMappings / gidMappings (idmapped bind mounts), which a pod in a user
// namespace needs for its volumes and pod files. The built-in executor
// (runc's libcontainer 1.5) does. A runccli binary says so in its
// "features" answer (runtime-spec features.md: mountExtensions.idmap, or
// the "idmap" mount option, as runc 1.2 and crun 1.9 do); crun 1.8, which
// has no "features" command but applies mount mappings, is recognised by
// its version. runc 1.1 has neither. The answer is cached per handler.
// The kernel side (idmapped overlay layers and bind mounts) is probed
// separately.
func SupportsIDMappedMounts(ctx context.Context, h Handler) bool {
	if v, ok := idmapCache.Load(h); ok {
		return v.(bool)
	}
	ok := h.Kind != KindRuncCLI || binaryHasIDMap(ctx, h.Path)
	idmapCache.Store(h, ok)
	return ok
}

func binaryHasIDMap(ctx context.Context, path string) bool {
	ctx, cancel := context.WithTimeout(ctx, featuresTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, "features").Output(); err == nil {
		return featuresHaveIDMap(out)
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	return err == nil && crunHasIDMap(string(out))
}

// featuresHaveIDMap reads a runtime-spec features document.
func featuresHaveIDMap(doc []byte) bool {
	var f struct {
		MountOptions []string `json:"mountOptions"`
		Linux        struct {
			MountExtensions struct {
				IDMap struct {
					Enabled *bool `json:"enabled"`
				} `json:"idmap"`
			} `json:"mountExtensions"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(doc, &f); err != nil {
		return false
	}
	if e := f.Linux.MountExtensions.IDMap.Enabled; e != nil {
		return *e
	}
	return slices.Contains(f.MountOptions, "idmap")
}

// crunHasIDMap reads "crun version X.Y[.Z]": crun applies mount
// uidMappings / gidMappings from 1.8 on.
func crunHasIDMap(version string) bool {
	first, _, _ := strings.Cut(version, "\n")
	v, ok := strings.CutPrefix(strings.TrimSpace(first), "crun version ")
	if !ok {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 1 || (major == 1 && minor >= 8)
}
