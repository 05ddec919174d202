package container_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestImageVolumes(t *testing.T) {
	cases := []struct {
		desc     string
		readonly bool
		image    string
		subPath  string
		want     error
	}{
		{desc: "mounted read-only", readonly: true, image: "nginx"},
		{desc: "read-write is refused", image: "nginx", want: errdefs.ErrInvalidArgument},
		{desc: "image not pulled", readonly: true, image: "absent", want: errdefs.ErrNotFound},
		{desc: "missing sub-path", readonly: true, image: "nginx", subPath: "etc", want: errdefs.ErrInvalidArgument},
		{desc: "sub-path is kept inside the image", readonly: true, image: "nginx", subPath: "../../.."},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			cfg := ctrConfig("app", "busybox")
			cfg.Mounts = []*runtimeapi.Mount{
				{ContainerPath: "/data", HostPath: "/srv"},
				{ContainerPath: "/img", Readonly: tc.readonly, Image: &runtimeapi.ImageSpec{Image: tc.image}, ImageSubPath: tc.subPath},
			}
			c, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg})
			if tc.want != nil {
				if !errorIs(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if m := e.rootfs.Mounted(); len(m) != 0 {
					t.Errorf("left mounted: %q", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.rootfs.Mounted(); !slices.Equal(got, []string{c.ID, c.ID + "-iv1"}) {
				t.Errorf("mounted = %q", got)
			}
			want := []container.ImageVolume{{ContainerPath: "/img", ImageID: "sha256:n0", Source: filepath.Join(c.Bundle, "imagevols", "1")}}
			if !slices.Equal(c.ImageVolumes, want) {
				t.Errorf("volumes = %+v, want %+v", c.ImageVolumes, want)
			}
			if err := e.svc.Remove(context.Background(), c.ID); err != nil {
				t.Fatal(err)
			}
			if m := e.rootfs.Mounted(); len(m) != 0 {
				t.Errorf("left mounted after remove: %q", m)
			}
		})
	}
}

func TestImageVolumeSubPath(t *testing.T) {
	e := newEnv(t)
	cfg := ctrConfig("app", "busybox")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/img", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "nginx"}, ImageSubPath: "etc"}}
	// The fake rootfs mounts nothing; give the volume's mount point the
	// sub-path the image would have.
	e.rootfs.OnMount = func(target string) { _ = os.MkdirAll(filepath.Join(target, "etc"), 0o755) }
	c, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ImageVolumes[0].Source, filepath.Join(c.Bundle, "imagevols", "0", "etc"); got != want {
		t.Errorf("source = %q, want %q", got, want)
	}
}

// TestArtifactImage: an OCI artifact mounts as an image volume, and is
// refused as a container's image.
func TestArtifactImage(t *testing.T) {
	e := newEnv(t)
	cfg := ctrConfig("app", "busybox")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/art", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "artifact"}}}
	c, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	want := []container.ImageVolume{{ContainerPath: "/art", ImageID: "sha256:a0", Source: filepath.Join(c.Bundle, "imagevols", "0")}}
	if !slices.Equal(c.ImageVolumes, want) {
		t.Errorf("volumes = %+v, want %+v", c.ImageVolumes, want)
	}
	if err := e.svc.Remove(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig("run-artifact", "artifact")})
	if !errorIs(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("create with an artifact as its image: %v, want InvalidArgument", err)
	}
}

// TestRootfsMountLabel: the rootfs and the image volumes are mounted with
// the container's SELinux mount label, which the spec gets too. (Found in
// the enforcing test/vm node: mounted without it, every container was
// refused its entrypoint.)
func TestRootfsMountLabel(t *testing.T) {
	e := newEnv(t)
	e.spec.SELinux = selinux.Labels{Process: "system_u:system_r:container_t:s0:c1,c2", Mount: "system_u:object_r:container_file_t:s0:c1,c2"}
	cfg := ctrConfig("app", "busybox")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/img", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "nginx"}}}
	c, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{c.ID, c.ID + "-iv0"} {
		if got := e.rootfs.MountLabels[key]; got != e.spec.SELinux.Mount {
			t.Errorf("%s mounted with label %q, want %q", key, got, e.spec.SELinux.Mount)
		}
	}
	if c.Process.SelinuxLabel != e.spec.SELinux.Process {
		t.Errorf("process label %q, want %q", c.Process.SelinuxLabel, e.spec.SELinux.Process)
	}
}
