package container_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestCreate(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, "app", "busybox")
	if len(c.ID) != 64 || c.Status().State != container.StateCreated || c.CreatedAt.IsZero() {
		t.Fatalf("container %+v status %+v", c.Metadata, c.Status())
	}
	if _, err := os.Stat(filepath.Join(c.Bundle, "config.json")); err != nil {
		t.Errorf("bundle: %v", err)
	}
	if c.LogPath != filepath.Join(e.dir, "logs", "app/0.log") || c.Image.ID != "sha256:b0" || c.StopSignal != syscall.SIGTERM {
		t.Errorf("metadata = %+v", c.Metadata)
	}
	if got := e.rootfs.Mounted(); !slices.Equal(got, []string{c.ID}) {
		t.Errorf("mounted = %q", got)
	}
	if len(e.shims.Calls()) != 0 {
		t.Errorf("create reached the shim: %q", e.shims.Calls())
	}
}

func TestCreateFailures(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		desc    string
		podID   string
		image   string
		noMeta  bool
		prepare func(e *env)
		want    error
		mounted bool
	}{
		{desc: "missing pod", podID: "nope", image: "busybox", want: errdefs.ErrNotFound},
		{desc: "pod not ready", image: "busybox", want: errdefs.ErrFailedPrecondition, prepare: func(e *env) {
			p, _ := e.pods.Pod(podID)
			p.Ready = false
			e.pods.Add(p)
		}},
		{desc: "no metadata", noMeta: true, image: "busybox", want: errdefs.ErrInvalidArgument},
		{desc: "image not pulled", image: "absent", want: errdefs.ErrNotFound},
		{desc: "rootfs fails", image: "busybox", want: boom, prepare: func(e *env) { e.rootfs.MountErr = boom }},
		{desc: "spec fails, rootfs rolled back", image: "busybox", want: boom, prepare: func(e *env) { e.spec.Err = boom }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			if tc.prepare != nil {
				tc.prepare(e)
			}
			cfg := ctrConfig("app", tc.image)
			if tc.noMeta {
				cfg.Metadata = nil
			}
			pod := podID
			if tc.podID != "" {
				pod = tc.podID
			}
			_, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: pod, Config: cfg})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if m := e.rootfs.Mounted(); len(m) != 0 {
				t.Errorf("rootfs left mounted: %q", m)
			}
			if entries, _ := os.ReadDir(filepath.Join(e.dir, "containers")); len(entries) != 0 {
				t.Errorf("bundles left: %v", entries)
			}
			if ids, _ := e.st.IDs("containers"); len(ids) != 0 {
				t.Errorf("records left: %q", ids)
			}
			e.rootfs.MountErr, e.spec.Err = nil, nil
			p, _ := e.pods.Pod(podID)
			p.Ready = true
			e.pods.Add(p)
			e.create(t, "app", "busybox") // name released
		})
	}
}

func TestCreateNameConflict(t *testing.T) {
	e := newEnv(t)
	e.create(t, "app", "busybox")
	_, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig("app", "busybox")})
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("err = %v, want AlreadyExists", err)
	}
}

func TestCreateIDMapsRootfsInAUserNamespacePod(t *testing.T) {
	e := newEnv(t)
	p, _ := e.pods.Pod(podID)
	mapping := []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}
	p.Config = &runtimeapi.PodSandboxConfig{Metadata: p.Config.GetMetadata(), LogDirectory: p.Config.GetLogDirectory(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
			UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: mapping, Gids: []*runtimeapi.IDMapping{{HostId: 200000, Length: 65536}}},
		}}}}
	p.Namespaces.User = "/run/pod/ns/user"
	e.pods.Add(p)
	c := e.create(t, "app", "busybox")
	want := container.RootfsIDMap{UsernsPath: "/run/pod/ns/user", RootUID: 100000, RootGID: 200000}
	if got := e.rootfs.IDMaps[c.ID]; got != want {
		t.Fatalf("rootfs idmap = %+v, want %+v", got, want)
	}
}
