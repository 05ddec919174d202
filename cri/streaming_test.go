package cri

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/network/networktest"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/container/containertest"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
	"github.com/cricket-cri/cricket/sandbox/wire"
)

// fakeStreamer records the requests it got URLs for.
type fakeStreamer struct {
	mu       sync.Mutex
	execs    []*runtimeapi.ExecRequest
	attaches []*runtimeapi.AttachRequest
	forwards []*runtimeapi.PortForwardRequest
}

func (f *fakeStreamer) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, req)
	return &runtimeapi.ExecResponse{Url: "http://127.0.0.1:1/exec/t"}, nil
}

func (f *fakeStreamer) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attaches = append(f.attaches, req)
	return &runtimeapi.AttachResponse{Url: "http://127.0.0.1:1/attach/t"}, nil
}

func (f *fakeStreamer) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forwards = append(f.forwards, req)
	return &runtimeapi.PortForwardResponse{Url: "http://127.0.0.1:1/portforward/t"}, nil
}

// streamEnv is a podEnv whose daemon has a streaming server (or, with a nil
// streamer, none).
type streamEnv struct {
	podEnv
	streamer *fakeStreamer
}

func newStreamEnv(t *testing.T, withStreamer bool) *streamEnv {
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
		StateDir: filepath.Join(dir, "containers"), Store: st, Pods: wire.Pods{Sandboxes: sbs},
		Images: containertest.Images{"busybox": {ID: "sha256:b0", Config: oci.ImageConfig{Cmd: []string{"sh"}}}},
		Rootfs: &containertest.Rootfs{}, Spec: containertest.Spec{}, Shims: shims,
	})
	if err != nil {
		t.Fatal(err)
	}
	sbs.SetContainers(ctrs)
	e := &streamEnv{}
	deps := Deps{Network: &networktest.Fake{}, Sandboxes: sbs, Containers: ctrs}
	if withStreamer {
		e.streamer = &fakeStreamer{}
		deps.Streaming = e.streamer
	}
	srv := grpc.NewServer(ServerOptions(1<<20, 1<<20)...)
	New(testConfig, deps).Register(srv)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.podEnv = podEnv{rec: rec, shims: shims, runtime: runtimeapi.NewRuntimeServiceClient(conn)}
	return e
}

// streamFixture is a ready pod with a running and a created container.
type streamFixture struct {
	*streamEnv
	pod, running, created string
}

func newStreamFixture(t *testing.T) *streamFixture {
	t.Helper()
	e := newStreamEnv(t, true)
	f := &streamFixture{streamEnv: e, pod: e.runPod(t, "p")}
	f.running = e.createContainer(t, f.pod, "run")
	if _, err := e.runtime.StartContainer(context.Background(), &runtimeapi.StartContainerRequest{ContainerId: f.running}); err != nil {
		t.Fatal(err)
	}
	f.created = e.createContainer(t, f.pod, "made")
	return f
}
