package stats_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/pkg/stats/statstest"
)

func TestStatFilesystem(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	fs, err := stats.StatFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Device != fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)) || fs.Capacity == 0 || fs.Inodes < fs.InodesFree {
		t.Fatalf("got %+v", fs)
	}
	if _, err := stats.StatFilesystem(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("statfs of a missing path succeeded")
	}
}

func TestMountSource(t *testing.T) {
	const mountinfo = "24 1 0:1 / / rw - rootfs rootfs rw\n" +
		"36 24 253:1 / /var rw,relatime shared:1 - ext4 /dev/vda1 rw\n" +
		"37 36 253:1 /lib /mnt/lib rw,relatime shared:1 - ext4 /dev/vda1 rw\n" +
		"38 24 0:52 / /run rw,nosuid shared:5 master:1 - tmpfs tmpfs rw,mode=755\n"
	tests := []struct {
		desc    string
		device  string
		want    string
		wantErr bool
	}{
		{desc: "disk", device: "253:1", want: "/dev/vda1"},
		{desc: "optional fields before the separator", device: "0:52", want: "tmpfs"},
		{desc: "not mounted", device: "8:0"},
	}
	mi := filepath.Join(t.TempDir(), "mountinfo")
	write(t, mi, mountinfo)
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := stats.MountSource(mi, tc.device)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := stats.MountSource(filepath.Join(t.TempDir(), "missing"), "8:0"); err == nil {
		t.Fatal("missing mountinfo read")
	}
}

// TestLayerFilesystemDevice checks that the collector names the layers'
// device by its mount, and by major:minor when mountinfo cannot say.
func TestLayerFilesystemDevice(t *testing.T) {
	root := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	tests := []struct {
		desc      string
		mountinfo string // "" for none
		want      string
	}{
		{desc: "named by its mount", mountinfo: "36 24 " + dev + " / /var rw - ext4 /dev/vdz1 rw\n", want: "/dev/vdz1"},
		{desc: "no mountinfo", want: dev},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			mi := filepath.Join(t.TempDir(), "mountinfo")
			if tc.mountinfo != "" {
				write(t, mi, tc.mountinfo)
			}
			cg := statstest.NewCgroups()
			c, err := stats.New(stats.Options{Cgroups: cg, MountInfo: mi,
				Layers: statstest.Layers{RootDir: root, Usages: map[string]snapshot.Usage{"c": {Bytes: 1}}}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // the second read is served from memory
				cs, err := c.Container(t.Context(), stats.ContainerRef{ID: "c", CgroupPath: "/c"})
				if err != nil {
					t.Fatal(err)
				}
				if cs.LayerFS == nil || cs.LayerFS.Device != tc.want {
					t.Fatalf("read %d: layer filesystem %+v, want device %s", i, cs.LayerFS, tc.want)
				}
				_ = os.Remove(mi)
			}
		})
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
