package container_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/container/containertest"
)

const podID = "pod1"

type env struct {
	dir    string
	st     *store.Store
	pods   *containertest.Pods
	rootfs *containertest.Rootfs
	shims  *containertest.Shims
	spec   *containertest.Spec
	orph   *containertest.Orphans
	svc    *container.Service
	// criuErr is what the service's CRIU check returns.
	criuErr error
}

var images = containertest.Images{
	"busybox": {ID: "sha256:b0", RepoRef: "busybox@sha256:d1", Config: oci.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}},
	"nginx":   {ID: "sha256:n0", Config: oci.ImageConfig{Entrypoint: []string{"nginx"}, StopSignal: "SIGQUIT"}},
	// An OCI artifact: only an image volume can mount it.
	"artifact": {ID: "sha256:a0", ArtifactDir: "/var/lib/cricket/images/artifacts/a0"},
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, st: st, pods: &containertest.Pods{}, rootfs: &containertest.Rootfs{}, shims: containertest.NewShims(), spec: &containertest.Spec{}, orph: &containertest.Orphans{}}
	e.pods.Add(container.Pod{
		ID: podID, Ready: true, CgroupParent: "/kubepods/pod1",
		Config: &runtimeapi.PodSandboxConfig{
			Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "u1"},
			LogDirectory: filepath.Join(dir, "logs"),
		},
	})
	e.svc = e.service(t)
	return e
}

func (e *env) service(t *testing.T) *container.Service {
	t.Helper()
	svc, err := container.New(container.Options{
		StateDir: filepath.Join(e.dir, "containers"), IDMapDir: filepath.Join(e.dir, "idmap"), Store: e.st, Pods: e.pods, Images: images,
		Rootfs: e.rootfs, Spec: specBuilder{e.spec}, Shims: e.shims, Orphans: e.orph,
		CRIU: func() error { return e.criuErr },
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// specBuilder lets a test change the fake's error after the service exists.

type specBuilder struct{ f *containertest.Spec }

func (b specBuilder) Build(ctx context.Context, in container.SpecInput) (*specsSpec, error) {
	return b.f.Build(ctx, in)
}

func (b specBuilder) SELinuxLabels(ctx context.Context, cfg *runtimeapi.ContainerConfig, pod container.Pod) (selinux.Labels, error) {
	return b.f.SELinuxLabels(ctx, cfg, pod)
}

func ctrConfig(name, image string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: image},
		Labels:   map[string]string{"c": name},
		LogPath:  name + "/0.log",
	}
}

func (e *env) create(t *testing.T, name, image string) *container.Container {
	t.Helper()
	c, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig(name, image)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) started(t *testing.T, name, image string) *container.Container {
	t.Helper()
	c := e.create(t, name, image)
	if err := e.svc.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitExited(t *testing.T, c *container.Container) container.Status {
	t.Helper()
	select {
	case <-c.Exited():
	case <-time.After(5 * time.Second):
		t.Fatalf("container %s did not exit", c.ID)
	}
	return c.Status()
}

func TestList(t *testing.T) {
	e := newEnv(t)
	e.pods.Add(container.Pod{ID: "pod2", Ready: true, Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "other"}}})
	a, b := e.started(t, "a", "busybox"), e.create(t, "b", "busybox")
	c, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: "pod2", Config: ctrConfig("c", "busybox")})
	if err != nil {
		t.Fatal(err)
	}
	running, created := container.StateRunning, container.StateCreated
	cases := []struct {
		desc string
		f    container.Filter
		want []string
	}{
		{desc: "all", want: sorted(a.ID, b.ID, c.ID)},
		{desc: "by id prefix", f: container.Filter{ID: a.ID[:10]}, want: []string{a.ID}},
		{desc: "unknown id", f: container.Filter{ID: "zz"}},
		{desc: "by pod", f: container.Filter{PodID: "pod2"}, want: []string{c.ID}},
		{desc: "running", f: container.Filter{State: &running}, want: []string{a.ID}},
		{desc: "created in pod1", f: container.Filter{State: &created, PodID: podID}, want: []string{b.ID}},
		{desc: "label", f: container.Filter{Labels: map[string]string{"c": "b"}}, want: []string{b.ID}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var got []string
			for _, c := range e.svc.List(tc.f) {
				got = append(got, c.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}
