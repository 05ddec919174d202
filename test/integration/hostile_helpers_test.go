package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// hostileEnv is a pod daemon that can also pull images built by the test
// (busybox plus a hostile layer) from a registry of its own on 127.0.0.1.
type hostileEnv struct {
	d   *harness.Daemon
	reg *imagebuild.Registry
	b   *imagebuild.Builder
}

func newHostileEnv(t *testing.T) *hostileEnv {
	t.Helper()
	testutil.RequireRoot(t)
	reg, err := imagebuild.StartRegistry("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	b, err := imagebuild.NewBuilder(imagebuild.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{reg.Addr: reg.Addr}
	for h, a := range sharedMirror(t).Addrs() {
		hosts[h] = a
	}
	d := startImageDaemon(t, hosts)
	t.Cleanup(func() { removeAllPods(t, d) })
	pull(t, d, podImage)
	return &hostileEnv{d: d, reg: reg, b: b}
}

func pull(t *testing.T, d *harness.Daemon, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
}

// image pushes busybox plus one layer of the given tar headers (regular
// files get no content) with config cfg as repo:v1, pulls it and returns
// its reference.
func (e *hostileEnv) image(t *testing.T, repo string, cfg v1.Config, hdrs ...tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		h.ModTime = imagebuild.Epoch
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	steps, err := e.b.BusyboxSteps()
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.b.Image(imagebuild.OCI, cfg, append(steps, imagebuild.Step{Layer: layer, CreatedBy: "hostile layer"})...)
	if err != nil {
		t.Fatal(err)
	}
	ref := e.reg.Addr + "/hostile/" + repo + ":v1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, imagebuild.RemoteOptions(context.Background())...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	pull(t, e.d, ref)
	return ref
}

// outsideDir makes a directory on the host that no container may reach,
// holding one file "secret" with content "safe".
func outsideDir(t *testing.T, d *harness.Daemon) string {
	t.Helper()
	dir := filepath.Join(d.Dir, "outside")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("safe"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkOutside fails t when the outside dir holds anything but its
// unchanged secret, or when something is mounted on or below it.
func checkOutside(t *testing.T, dir string) {
	t.Helper()
	if got := listFiles(t, dir); len(got) != 1 || got[0] != "secret" {
		t.Errorf("outside dir %s now holds %v", dir, got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secret")); string(b) != "safe" {
		t.Errorf("outside secret changed to %q", b)
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			t.Errorf("mount on the outside dir: %s", line)
		}
	}
}

// createAndStart creates and starts a container and returns its id, or
// the first error.
func createAndStart(rt runtimeapi.RuntimeServiceClient, podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) (string, error) {
	ctx := context.Background()
	resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if err != nil {
		return "", err
	}
	_, err = rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId})
	return resp.ContainerId, err
}

// waitExited waits for a container to exit and returns its status.
func waitExited(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	st, err := awaitExit(rt, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// awaitExit is waitExited for goroutines other than the test's: it
// returns its error instead of failing the test.
func awaitExit(rt runtimeapi.RuntimeServiceClient, id string) (*runtimeapi.ContainerStatus, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := rt.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			return nil, fmt.Errorf("ContainerStatus %s: %w", id, err)
		}
		if resp.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return resp.Status, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("container %s did not exit: %v", id, resp.Status.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func removeContainer(rt runtimeapi.RuntimeServiceClient, id string) {
	if id != "" {
		_, _ = rt.RemoveContainer(context.Background(), &runtimeapi.RemoveContainerRequest{ContainerId: id})
	}
}
