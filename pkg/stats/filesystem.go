package stats

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Filesystem describes the filesystem a container's writable layer lives
// on, as cAdvisor reports it for container_fs_* metrics.
type Filesystem struct {
	// Device is the mount source ("/dev/vda1"), else major:minor.
	Device string
	// Capacity is its size in bytes; Inodes and InodesFree its inodes.
	Capacity, Inodes, InodesFree uint64
}

// StatFilesystem describes the filesystem path is on; Device is its
// major:minor.
func StatFilesystem(path string) (*Filesystem, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return &Filesystem{
		Device:     fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)),
		Capacity:   sfs.Blocks * uint64(sfs.Bsize),
		Inodes:     sfs.Files,
		InodesFree: sfs.Ffree,
	}, nil
}

// MountSource returns the source of the first mount of device
// (major:minor) in a mountinfo file, "" when none.
func MountSource(mountinfo, device string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", mountinfo, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 25 8:1 / /var rw,relatime shared:1 - ext4 /dev/sda1 rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 3 || len(tail) < 2 || fields[2] != device {
			continue
		}
		return tail[1], nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", mountinfo, err)
	}
	return "", nil
}

// layerFilesystem describes the filesystem of the writable layers under
// root, its device named by its mount source. Names are remembered: a
// host has thousands of mounts with many pods, and a device keeps its
// name while it is mounted.
func (c *Collector) layerFilesystem(root string) (*Filesystem, error) {
	fs, err := StatFilesystem(root)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	name, ok := c.devices[fs.Device]
	c.mu.Unlock()
	// An unreadable mountinfo leaves the device named major:minor, and is
	// tried again next time.
	if !ok {
		if name, err = MountSource(c.opts.MountInfo, fs.Device); err == nil {
			c.mu.Lock()
			c.devices[fs.Device] = name
			c.mu.Unlock()
		}
	}
	if name != "" {
		fs.Device = name
	}
	return fs, nil
}

// BlockDevice names the block device major:minor as the kernel does
// ("/dev/vda" from sysRoot/dev/block/<major>:<minor>/uevent), else
// "major:minor".
func BlockDevice(sysRoot string, major, minor uint64) string {
	id := fmt.Sprintf("%d:%d", major, minor)
	b, err := os.ReadFile(filepath.Join(sysRoot, "dev", "block", id, "uevent"))
	if err != nil {
		return id
	}
	for line := range strings.Lines(string(b)) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "DEVNAME="); ok && name != "" {
			return "/dev/" + name
		}
	}
	return id
}
