package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/test/testutil"
)

func TestRootUnpackMetadata(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{
		{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		{Name: "dev/loop0", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 7, Devminor: 0},
		{Name: "dev/fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
		{Name: "owned", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1234, Gid: 5678,
			PAXRecords: map[string]string{"SCHILY.xattr.user.test": "v", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}},
		{Name: "opaque/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "opaque/.wh..wh..opq", Typeflag: tar.TypeReg},
		{Name: ".wh.deleted", Typeflag: tar.TypeReg},
	}
	for _, h := range hdrs {
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	_ = tw.Close()
	if _, err := Unpack(context.Background(), root, &buf, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc  string
		path  string
		mode  uint32
		rdev  uint64
		owner [2]uint32
	}{
		{desc: "char device", path: "dev/null", mode: unix.S_IFCHR | 0o666, rdev: unix.Mkdev(1, 3)},
		{desc: "block device", path: "dev/loop0", mode: unix.S_IFBLK | 0o660, rdev: unix.Mkdev(7, 0)},
		{desc: "fifo", path: "dev/fifo", mode: unix.S_IFIFO | 0o600},
		{desc: "setuid owned file", path: "owned", mode: unix.S_IFREG | 0o4755, owner: [2]uint32{1234, 5678}},
		{desc: "whiteout", path: "deleted", mode: unix.S_IFCHR, rdev: 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var st syscall.Stat_t
			if err := syscall.Lstat(filepath.Join(root, tc.path), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode != tc.mode || st.Rdev != tc.rdev || st.Uid != tc.owner[0] || st.Gid != tc.owner[1] {
				t.Errorf("mode %o rdev %d owner %d:%d", st.Mode, st.Rdev, st.Uid, st.Gid)
			}
		})
	}
	buf2 := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(root, "opaque"), "trusted.overlay.opaque", buf2); err != nil || string(buf2[:n]) != "y" {
		t.Errorf("opaque xattr = %q, %v", buf2[:n], err)
	}
	if n, err := unix.Lgetxattr(filepath.Join(root, "owned"), "user.test", buf2); err != nil || string(buf2[:n]) != "v" {
		t.Errorf("user xattr = %q, %v", buf2[:n], err)
	}
}

func TestRootOverlayMount(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	base, top := chainOf("base"), chainOf("top")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: ".wh.a", Typeflag: tar.TypeReg})
	_ = tw.Close()
	if err := s.Apply(ctx, base, "", bytes.NewReader(tarOf(t, file("a", "1"), file("b", "2"))), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, top, base, &buf, nil); err != nil {
		t.Fatal(err)
	}
	m, err := s.Prepare("c", top)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := MountAt(m, target); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Unmount(target) }()
	if _, err := os.Stat(filepath.Join(target, "a")); !os.IsNotExist(err) {
		t.Errorf("whited-out file visible: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "b")); err != nil || string(b) != "2" {
		t.Errorf("b = %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := s.Usage("c")
	if err != nil || u.Inodes < 2 {
		t.Errorf("usage = %+v, %v", u, err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
}

func TestRootOverlayMountManyLayers(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	parent := ""
	const layers = 120
	for i := range layers {
		chain := chainOf(fmt.Sprint("layer", i))
		if err := s.Apply(ctx, chain, parent, bytes.NewReader(tarOf(t, file(fmt.Sprint("f", i), "x"))), nil); err != nil {
			t.Fatal(err)
		}
		parent = chain
	}
	m, err := s.Prepare("many", parent)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Join(m.Options, ",")); n < unix.Getpagesize() {
		t.Fatalf("options only %d bytes; the test needs them longer than a page", n)
	}
	target := t.TempDir()
	if err := MountAt(m, target); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Unmount(target) }()
	for _, f := range []string{"f0", fmt.Sprint("f", layers-1)} {
		if _, err := os.Stat(filepath.Join(target, f)); err != nil {
			t.Error(err)
		}
	}
	wd, _ := os.Getwd()
	if strings.Contains(wd, "snapshots") {
		t.Errorf("daemon cwd changed to %s", wd)
	}
}

func TestCommonParent(t *testing.T) {
	for _, tc := range []struct {
		desc string
		opts []string
		want string
	}{
		{desc: "siblings", want: "/r/snapshots", opts: []string{"lowerdir=/r/snapshots/1/fs:/r/snapshots/2/fs", "upperdir=/r/snapshots/3/fs", "workdir=/r/snapshots/3/work"}},
		{desc: "no dirs", want: "/", opts: []string{"index=off"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := commonParent(tc.opts); got != tc.want {
				t.Errorf("commonParent = %q, want %q", got, tc.want)
			}
		})
	}
}
