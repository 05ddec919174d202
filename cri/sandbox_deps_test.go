package cri

import (
	"context"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/network/networktest"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/container/containertest"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
)

// podEnv serves the real sandbox and container services, built over fakes,
// through the daemon's interceptors.
type podEnv struct {
	rec     *sandboxtest.Recorder
	shims   *containertest.Shims
	runtime runtimeapi.RuntimeServiceClient
}

func newPodEnv(t *testing.T) *podEnv {
	t.Helper()
	ps := newPodServices(t)
	svc := New(testConfig, Deps{Network: &networktest.Fake{}, Pods: ps.sbs, Containers: ps.ctrs})
	return &podEnv{rec: ps.rec, shims: ps.shims, runtime: serveForTest(t, svc)}
}

// podServices are the real sandbox and container services, built over
// fakes, that the adapter tests serve.
type podServices struct {
	rec   *sandboxtest.Recorder
	shims *containertest.Shims
	sbs   *sandbox.Service
	ctrs  *container.Service
}

func newPodServices(t *testing.T) *podServices {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	rec := sandboxtest.NewRecorder()
	sbs, err := sandbox.New(sandbox.Options{
		StateDir: filepath.Join(dir, "pods"), Store: st,
		Namespaces: sandboxtest.Namespaces{R: rec}, Files: sandboxtest.Files{R: rec},
		Cgroups: sandboxtest.Cgroups{R: rec}, Shims: sandboxtest.Shims{R: rec}, Network: sandboxtest.Network{R: rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	shims := containertest.NewShims()
	ctrs, err := container.New(container.Options{
		StateDir: filepath.Join(dir, "containers"), Store: st, Pods: sbs,
		Images: containertest.Images{
			"busybox":   {ID: "sha256:b0", Name: "docker.io/library/busybox:latest", RepoRef: "docker.io/library/busybox@sha256:d1", Config: oci.ImageConfig{Cmd: []string{"sh"}}},
			"sha256:b0": {ID: "sha256:b0", Name: "docker.io/library/busybox:latest", RepoRef: "docker.io/library/busybox@sha256:d1"},
		},
		Rootfs: &containertest.Rootfs{}, Spec: containertest.Spec{}, Shims: shims,
	})
	if err != nil {
		t.Fatal(err)
	}
	sbs.SetContainers(ctrs)
	return &podServices{rec: rec, shims: shims, sbs: sbs, ctrs: ctrs}
}

func testPodConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "uid-" + name},
		Labels:       map[string]string{"pod": name},
		LogDirectory: "/tmp/cricket-cri-test-logs/" + name,
	}
}

func (e *podEnv) runPod(t *testing.T, name string) string {
	t.Helper()
	resp, err := e.runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: testPodConfig(name)})
	if err != nil {
		t.Fatal(err)
	}
	return resp.PodSandboxId
}

func testContainerConfig(name string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Labels:   map[string]string{"ctr": name},
	}
}

func (e *podEnv) createContainer(t *testing.T, podID, name string) string {
	t.Helper()
	resp, err := e.runtime.CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID, Config: testContainerConfig(name), SandboxConfig: testPodConfig("p"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.ContainerId
}
