package podfiles

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultShmSize is the size of a pod's /dev/shm, as in Docker and
// containerd.
const DefaultShmSize int64 = 64 << 20

// ShmSizeAnnotation on a pod sandbox overrides the /dev/shm size, in bytes.
// The CRI has no field for it.
const ShmSizeAnnotation = "io.cricket.shm-size"

// ShmSize returns the /dev/shm size of a pod: the annotation's value when
// set and valid, DefaultShmSize otherwise.
func ShmSize(cfg *runtimeapi.PodSandboxConfig) (int64, error) {
	v, ok := cfg.GetAnnotations()[ShmSizeAnnotation]
	if !ok {
		return DefaultShmSize, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalid("annotation %s=%q: want a positive number of bytes", ShmSizeAnnotation, v)
	}
	return n, nil
}

// MountShm mounts a tmpfs of size bytes (DefaultShmSize when size <= 0) at
// dir, creating dir. Its root is mode 1777 and owned by owner (host root
// when nil); its files have the SELinux label mountLabel when one is given
// (the pod's: containerd mounts its sandbox's shm so). Mounting over an
// existing mount is refused.
func MountShm(dir string, size int64, owner *Owner, mountLabel string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create shm dir %s: %w", dir, err)
	}
	if mounted, err := isMountPoint(dir); err != nil {
		return err
	} else if mounted {
		return fmt.Errorf("mount shm at %s: already a mount point", dir)
	}
	data := ShmOptions(size, owner, mountLabel)
	if err := unix.Mount("shm", dir, "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("mount(shm, %s, tmpfs, %s): %w", dir, data, err)
	}
	return nil
}

// ShmOptions are the tmpfs options of MountShm.
func ShmOptions(size int64, owner *Owner, mountLabel string) string {
	if size <= 0 {
		size = DefaultShmSize
	}
	data := "mode=1777,size=" + strconv.FormatInt(size, 10)
	if owner != nil {
		data += fmt.Sprintf(",uid=%d,gid=%d", owner.UID, owner.GID)
	}
	if mountLabel != "" {
		data += `,context="` + mountLabel + `"`
	}
	return data
}

// UnmountShm unmounts the pod's /dev/shm (lazily: a container may still
// hold it) and removes dir. A missing or unmounted dir is success.
func UnmountShm(dir string) error {
	for i := 0; i < 16; i++ {
		mounted, err := isMountPoint(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !mounted {
			break
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("umount(%s, MNT_DETACH): %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove shm dir %s: %w", dir, err)
	}
	return nil
}

// isMountPoint compares the device of dir with its parent's; it also
// detects a tmpfs mounted on a directory of the same filesystem type,
// since every tmpfs mount has its own device number.
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, fmt.Errorf("stat %s: %w", dir, os.ErrNotExist)
		}
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := unix.Lstat(dir+"/..", &parent); err != nil {
		return false, fmt.Errorf("stat %s/..: %w", dir, err)
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino, nil
}
