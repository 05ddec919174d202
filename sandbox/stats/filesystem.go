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

// StatFilesystem describes the filesystem path is on; its device is
// looked up in mountinfo.
func StatFilesystem(path, mountinfo string) (*Filesystem, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	out := &Filesystem{
		Device:     dev,
		Capacity:   sfs.Blocks * uint64(sfs.Bsize),
		Inodes:     sfs.Files,
		InodesFree: sfs.Ffree,
	}
	if src, err := mountSource(mountinfo, dev); err == nil && src != "" {
		out.Device = src
	}
	return out, nil
}

// mountSource returns the source of the first mount of device (major:minor)
// in a mountinfo file, "" when none.
func mountSource(mountinfo, device string) (string, error) {
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
	return "", sc.Err()
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
