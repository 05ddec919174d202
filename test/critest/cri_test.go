package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime answers what the harness asks; methods it does not override
// answer Unimplemented, like a daemon whose pods are not built.
type fakeRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	podsBuilt bool
	runErr    error

	mu         sync.Mutex
	pods       map[string]bool // id -> ready
	containers map[string]bool // id -> running
	calls      []string
}

func (f *fakeRuntime) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeRuntime) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "fake", RuntimeVersion: "0", RuntimeApiVersion: "v1"}, nil
}

func (f *fakeRuntime) RunPodSandbox(_ context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	if !f.podsBuilt {
		return nil, status.Error(codes.Unimplemented, "RunPodSandbox is not built")
	}
	if f.runErr != nil {
		return nil, f.runErr
	}
	f.record("RunPodSandbox " + req.GetConfig().GetMetadata().GetName())
	f.mu.Lock()
	f.pods["probe"] = true
	f.mu.Unlock()
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: "probe"}, nil
}

func (f *fakeRuntime) StopPodSandbox(_ context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	f.record("StopPodSandbox " + req.GetPodSandboxId())
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (f *fakeRuntime) RemovePodSandbox(_ context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	f.record("RemovePodSandbox " + req.GetPodSandboxId())
	f.mu.Lock()
	delete(f.pods, req.GetPodSandboxId())
	f.mu.Unlock()
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (f *fakeRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	if !f.podsBuilt {
		return nil, status.Error(codes.Unimplemented, "ListPodSandbox is not built")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for id := range f.pods {
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{Id: id})
	}
	return resp, nil
}

func (f *fakeRuntime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	if !f.podsBuilt {
		return nil, status.Error(codes.Unimplemented, "ListContainers is not built")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.ListContainersResponse{}
	for id := range f.containers {
		resp.Containers = append(resp.Containers, &runtimeapi.Container{Id: id})
	}
	return resp, nil
}

func (f *fakeRuntime) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	f.record("StopContainer " + req.GetContainerId())
	return &runtimeapi.StopContainerResponse{}, nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	f.record("RemoveContainer " + req.GetContainerId())
	f.mu.Lock()
	delete(f.containers, req.GetContainerId())
	f.mu.Unlock()
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// serve starts f on a unix socket and returns its endpoint.
func serve(t *testing.T, f *fakeRuntime) string {
	t.Helper()
	if f.pods == nil {
		f.pods = map[string]bool{}
	}
	if f.containers == nil {
		f.containers = map[string]bool{}
	}
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return "unix://" + sock
}

func TestProbeCmd(t *testing.T) {
	tests := []struct {
		desc      string
		fake      *fakeRuntime
		wantCode  int
		wantOut   string
		wantCalls []string
	}{
		{
			desc:     "pods not built",
			fake:     &fakeRuntime{},
			wantCode: exitUnimplemented,
			wantOut:  "answered Unimplemented",
		},
		{
			desc:      "pods built: the probe pod is removed again",
			fake:      &fakeRuntime{podsBuilt: true},
			wantCode:  exitOK,
			wantOut:   "RunPodSandbox works",
			wantCalls: []string{"RunPodSandbox critest-gate-probe", "StopPodSandbox probe", "RemovePodSandbox probe"},
		},
		{
			desc:     "pods built but failing: run the suite",
			fake:     &fakeRuntime{podsBuilt: true, runErr: status.Error(codes.Internal, "no CNI")},
			wantCode: exitOK,
			wantOut:  "implemented but failed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			endpoint := serve(t, tc.fake)
			var out bytes.Buffer
			code, err := probeCmd([]string{"--endpoint", endpoint}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("code %d output %q, want %d and %q", code, out.String(), tc.wantCode, tc.wantOut)
			}
			if strings.Join(tc.fake.calls, "; ") != strings.Join(tc.wantCalls, "; ") {
				t.Errorf("calls %q, want %q", tc.fake.calls, tc.wantCalls)
			}
		})
	}
}

func TestProbeCmdNoDaemon(t *testing.T) {
	code, err := probeCmd([]string{"--endpoint", "unix://" + filepath.Join(t.TempDir(), "none.sock")}, &bytes.Buffer{})
	if err == nil || code != exitFail {
		t.Fatalf("code %d err %v, want a failure: an absent daemon must not pass the gate", code, err)
	}
}

func TestCleanupCmd(t *testing.T) {
	tests := []struct {
		desc      string
		fake      *fakeRuntime
		wantCalls []string
	}{
		{desc: "pods not built: nothing to do", fake: &fakeRuntime{}},
		{
			desc: "containers go before their pods",
			fake: &fakeRuntime{podsBuilt: true, pods: map[string]bool{"p1": true}, containers: map[string]bool{"c1": true}},
			wantCalls: []string{
				"StopContainer c1", "RemoveContainer c1", "StopPodSandbox p1", "RemovePodSandbox p1",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			endpoint := serve(t, tc.fake)
			if err := cleanupCmd([]string{"--endpoint", endpoint}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			if strings.Join(tc.fake.calls, "; ") != strings.Join(tc.wantCalls, "; ") {
				t.Errorf("calls %q, want %q", tc.fake.calls, tc.wantCalls)
			}
		})
	}
}

func TestWaitCmd(t *testing.T) {
	endpoint := serve(t, &fakeRuntime{})
	var out bytes.Buffer
	if err := waitCmd([]string{"--endpoint", endpoint, "--timeout", "5s"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "fake 0 serves CRI v1") {
		t.Errorf("output %q", out.String())
	}
	err := waitCmd([]string{"--endpoint", "unix://" + filepath.Join(t.TempDir(), "none.sock"), "--timeout", "300ms"}, &bytes.Buffer{})
	if err == nil {
		t.Error("waiting for an absent daemon succeeded")
	}
}
