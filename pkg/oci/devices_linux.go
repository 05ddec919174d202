package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// ErrNotDevice is returned for a path that is not a device node.
var ErrNotDevice = errors.New("not a device node")

// deviceFromPath stats a host device node (following symlinks, as the
// kubelet's /dev/disk/by-id paths need).
func deviceFromPath(hostPath, containerPath, perms string) (Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(hostPath, &st); err != nil {
		return Device{}, fmt.Errorf("stat device %s: %w", hostPath, err)
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return Device{}, fmt.Errorf("device %s: %w", hostPath, ErrNotDevice)
	}
	return Device{
		Path: containerPath, Type: typ,
		Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
		FileMode: os.FileMode(st.Mode &^ unix.S_IFMT), UID: st.Uid, GID: st.Gid,
		Permissions: perms,
	}, nil
}

// ResolveDevice resolves a CRI device on the host. A directory yields every
// device node below it, placed under the container path.
func ResolveDevice(d *runtimeapi.Device) ([]Device, error) {
	host := d.GetHostPath()
	ctr := d.GetContainerPath()
	if ctr == "" {
		ctr = host
	}
	fi, err := os.Stat(host)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w: %w", host, err, errdefs.ErrInvalidArgument)
	}
	if !fi.IsDir() {
		dev, err := deviceFromPath(host, ctr, d.GetPermissions())
		if errors.Is(err, ErrNotDevice) {
			return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
		return []Device{dev}, err
	}
	var out []Device
	err = filepath.WalkDir(host, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(host, p)
		dev, derr := deviceFromPath(p, filepath.Join(ctr, rel), d.GetPermissions())
		if derr == nil {
			out = append(out, dev)
		}
		return nil
	})
	return out, err
}

// HostDevices lists the host's device nodes under /dev for a privileged
// container, skipping the directories a container gets its own of.
func HostDevices() ([]Device, error) {
	skip := map[string]bool{"/dev/pts": true, "/dev/shm": true, "/dev/mqueue": true, "/dev/fd": true}
	var out []Device
	err := filepath.WalkDir("/dev", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // devices come and go; skip what vanished
		}
		if e.IsDir() {
			if skip[p] || strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Name() == "console" || e.Type()&fs.ModeDevice == 0 {
			return nil
		}
		if dev, derr := deviceFromPath(p, p, "rwm"); derr == nil {
			out = append(out, dev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk /dev: %w", err)
	}
	return out, nil
}

// OwnOOMScoreAdj returns the daemon's own oom_score_adj: a child cannot go
// below it without CAP_SYS_RESOURCE, so the builder raises lower requests to
// it (ContainerInput.MinOOMScoreAdj).
func OwnOOMScoreAdj() (int, error) {
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, fmt.Errorf("read own oom_score_adj: %w", err)
	}
	var v int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d", &v); err != nil {
		return 0, fmt.Errorf("parse own oom_score_adj %q: %w", data, err)
	}
	return v, nil
}

// ResolveDevices resolves every CRI device of a container (ResolveDevice).
func ResolveDevices(devs []*runtimeapi.Device) ([]Device, error) {
	var out []Device
	for _, d := range devs {
		r, err := ResolveDevice(d)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}
