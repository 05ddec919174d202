package podfiles

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
)

func TestShmSize(t *testing.T) {
	tests := []struct {
		desc    string
		ann     map[string]string
		want    int64
		wantErr bool
	}{
		{desc: "default", want: DefaultShmSize},
		{desc: "annotation", ann: map[string]string{ShmSizeAnnotation: "1048576"}, want: 1 << 20},
		{desc: "bad annotation", ann: map[string]string{ShmSizeAnnotation: "1Mi"}, wantErr: true},
		{desc: "zero", ann: map[string]string{ShmSizeAnnotation: "0"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ShmSize(&runtimeapi.PodSandboxConfig{Annotations: tc.ann})
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %d, %v", got, err)
			}
		})
	}
}

func TestUnmountShmIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shm")
	if err := UnmountShm(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := UnmountShm(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir left: %v", err)
	}
}

func mountOptions(t *testing.T, dir string) (string, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && fields[4] == dir {
			return sc.Text(), true
		}
	}
	return "", false
}

func TestMountShm(t *testing.T) {
	testutil.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "shm")
	if err := MountShm(dir, 2<<20, nil, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = UnmountShm(dir) })
	line, ok := mountOptions(t, dir)
	if !ok || !strings.Contains(line, "tmpfs") || !strings.Contains(line, "size=2048k") || !strings.Contains(line, "nosuid") || !strings.Contains(line, "noexec") {
		t.Fatalf("mount line %q", line)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Blocks*uint64(st.Bsize) != 2<<20 {
		t.Fatalf("statfs %+v, %v", st, err)
	}
	if err := MountShm(dir, 0, nil, ""); err == nil {
		t.Fatal("mounted twice")
	}
	if err := UnmountShm(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok := mountOptions(t, dir); ok {
		t.Fatal("still mounted")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir left: %v", err)
	}
	if err := UnmountShm(dir); err != nil {
		t.Fatal(err)
	}
}

// TestMountShmOwned: the shm of a pod with a user namespace belongs to the
// host ids of its root, mode 1777, so that no idmap is needed.
func TestMountShmOwned(t *testing.T) {
	testutil.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "shm")
	if err := MountShm(dir, 0, &Owner{UID: 300000, GID: 300001}, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = UnmountShm(dir) })
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 300000 || st.Gid != 300001 || st.Mode&0o7777 != 0o1777 {
		t.Errorf("shm root is %d:%d mode %o, want 300000:300001 mode 1777", st.Uid, st.Gid, st.Mode&0o7777)
	}
	if err := UnmountShm(dir); err != nil {
		t.Fatal(err)
	}
}

func TestShmOptions(t *testing.T) {
	for _, tc := range []struct {
		size  int64
		owner *Owner
		label string
		want  string
	}{
		{size: 1 << 20, want: "mode=1777,size=1048576"},
		{want: "mode=1777,size=" + strconv.FormatInt(DefaultShmSize, 10)},
		{size: 4096, owner: &Owner{UID: 1, GID: 2}, want: "mode=1777,size=4096,uid=1,gid=2"},
		{size: 4096, label: "system_u:object_r:container_file_t:s0:c1,c2", want: `mode=1777,size=4096,context="system_u:object_r:container_file_t:s0:c1,c2"`},
	} {
		if got := ShmOptions(tc.size, tc.owner, tc.label); got != tc.want {
			t.Errorf("ShmOptions(%d, %v, %q) = %q, want %q", tc.size, tc.owner, tc.label, got, tc.want)
		}
	}
}
