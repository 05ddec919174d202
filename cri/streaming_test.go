package cri

import (
	"context"
	"sync"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/network/networktest"
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
	ps := newPodServices(t)
	e := &streamEnv{}
	deps := Deps{Network: &networktest.Fake{}, Pods: ps.sbs, Containers: ps.ctrs}
	if withStreamer {
		e.streamer = &fakeStreamer{}
		deps.Streaming = e.streamer
	}
	e.podEnv = podEnv{rec: ps.rec, shims: ps.shims, runtime: serveForTest(t, New(testConfig, deps))}
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
