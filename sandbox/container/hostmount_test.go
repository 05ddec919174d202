package container

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/internal/index"
)

// TestPinHostMountsResolvesSafely: a host path is resolved through host
// symlinks, but a symlink inside another container's writable volume may
// not lead out of it; a missing path is created as a directory unless it is
// in the reject list, and never through a volume's symlink leading out.
func TestPinHostMountsResolvesSafely(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	vol, outside := filepath.Join(base, "vol"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(vol, "dir"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for l, target := range map[string]string{filepath.Join(vol, "out"): outside, filepath.Join(vol, "in"): "dir", filepath.Join(base, "hostlink"): outside} {
		if err := os.Symlink(target, l); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{index: index.New[*Container]("container"), opts: Options{AbsentMountSourcesToReject: []string{filepath.Join(base, "rejected")}}}
	writer := Metadata{ID: "writer", Config: &runtimeapi.ContainerConfig{Mounts: []*runtimeapi.Mount{{HostPath: vol, ContainerPath: "/vol"}}}}
	s.index.Add(writer.ID, newContainer(writer, Status{State: StateRunning}, nil))
	reader := Metadata{ID: "reader", Config: &runtimeapi.ContainerConfig{Mounts: []*runtimeapi.Mount{{HostPath: vol, ContainerPath: "/ro", Readonly: true}}}}
	s.index.Add(reader.ID, newContainer(reader, Status{State: StateRunning}, nil))
	for _, tc := range []struct {
		desc, hostPath, want string
		wantErr              bool
	}{
		{desc: "plain", hostPath: filepath.Join(vol, "dir"), want: filepath.Join(vol, "dir")},
		{desc: "symlink staying in the volume", hostPath: filepath.Join(vol, "in"), want: filepath.Join(vol, "dir")},
		{desc: "host symlink", hostPath: filepath.Join(base, "hostlink"), want: outside},
		{desc: "volume symlink leading out", hostPath: filepath.Join(vol, "out"), wantErr: true},
		{desc: "missing is created", hostPath: filepath.Join(base, "new", "dir"), want: filepath.Join(base, "new", "dir")},
		{desc: "missing in the reject list", hostPath: filepath.Join(base, "rejected") + "/", wantErr: true},
		{desc: "missing through a volume symlink leading out", hostPath: filepath.Join(vol, "out", "made"), wantErr: true},
		{desc: "relative", hostPath: "vol/dir", wantErr: true},
		{desc: "empty", hostPath: "", wantErr: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			md := Metadata{ID: "new", Config: &runtimeapi.ContainerConfig{Mounts: []*runtimeapi.Mount{{HostPath: tc.hostPath, ContainerPath: "/data"}}}}
			got, err := s.pinHostMounts(md)
			if _, err := os.Stat(filepath.Join(base, "rejected")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a rejected path was created (%v)", err)
			}
			if _, err := os.Stat(filepath.Join(outside, "made")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a path was created through a volume's symlink (%v)", err)
			}
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("pinHostMounts(%s) = %v, %v; want InvalidArgument", tc.hostPath, got, err)
				}
				return
			}
			if err != nil || got["/data"] != tc.want {
				t.Fatalf("pinHostMounts(%s) = %v, %v; want /data -> %s", tc.hostPath, got, err, tc.want)
			}
		})
	}
}
