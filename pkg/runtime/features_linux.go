package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
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
