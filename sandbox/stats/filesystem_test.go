package stats_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/sandbox/stats"
)

func TestStatFilesystem(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	tests := []struct {
		desc      string
		mountinfo string
		want      string
	}{
		{
			desc:      "device named by its mount",
			mountinfo: "24 1 0:1 / / rw - rootfs rootfs rw\n36 24 " + dev + " / /var rw,relatime shared:1 - ext4 /dev/vdz1 rw\n",
			want:      "/dev/vdz1",
		},
		{desc: "unmounted device: major:minor", mountinfo: "24 1 0:1 / / rw - rootfs rootfs rw\n", want: dev},
		{desc: "no mountinfo: major:minor", want: dev},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			mi := filepath.Join(t.TempDir(), "mountinfo")
			if tc.mountinfo != "" {
				write(t, mi, tc.mountinfo)
			}
			fs, err := stats.StatFilesystem(dir, mi)
			if err != nil {
				t.Fatal(err)
			}
			if fs.Device != tc.want || fs.Capacity == 0 || fs.Inodes < fs.InodesFree {
				t.Fatalf("got %+v, want device %s", fs, tc.want)
			}
		})
	}
	if _, err := stats.StatFilesystem(filepath.Join(dir, "missing"), "/proc/self/mountinfo"); err == nil {
		t.Fatalf("missing path: %v", err)
	}
}

func TestBlockDevice(t *testing.T) {
	sys := t.TempDir()
	d := filepath.Join(sys, "dev", "block", "253:0")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d, "uevent"), "MAJOR=253\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n")
	tests := []struct {
		desc         string
		major, minor uint64
		want         string
	}{
		{desc: "named by uevent", major: 253, want: "/dev/vda"},
		{desc: "unknown device", major: 8, minor: 16, want: "8:16"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := stats.BlockDevice(sys, tc.major, tc.minor); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
