package oci

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestResolveHostMounts(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc    string
		mounts  []*runtimeapi.Mount
		want    map[string]string
		wantErr error
	}{
		{desc: "plain path", mounts: []*runtimeapi.Mount{{ContainerPath: "/a", HostPath: real}}, want: map[string]string{"/a": real, "/iv": "/img"}},
		{desc: "symlink is resolved", mounts: []*runtimeapi.Mount{{ContainerPath: "/a", HostPath: link + "/"}}, want: map[string]string{"/a": real, "/iv": "/img"}},
		{desc: "image volume is left alone", mounts: []*runtimeapi.Mount{{ContainerPath: "/iv", Image: &runtimeapi.ImageSpec{Image: "x"}}}, want: map[string]string{"/iv": "/img"}},
		{desc: "missing path", mounts: []*runtimeapi.Mount{{ContainerPath: "/a", HostPath: filepath.Join(dir, "missing")}}, wantErr: errdefs.ErrInvalidArgument},
		{desc: "relative path", mounts: []*runtimeapi.Mount{{ContainerPath: "/a", HostPath: "real"}}, wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ResolveHostMounts(&runtimeapi.ContainerConfig{Mounts: tc.mounts}, map[string]string{"/iv": "/img"})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
