package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestUpdateContainerResources(t *testing.T) {
	e := newPodEnv(t)
	ctx := context.Background()
	podID := e.runPod(t, "p")
	id := e.createContainer(t, podID, "c")
	if _, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	valid := &runtimeapi.LinuxContainerResources{CpuShares: 256, MemoryLimitInBytes: 32 << 20}
	cases := []struct {
		desc     string
		id       string
		linux    *runtimeapi.LinuxContainerResources
		wantCode codes.Code
	}{
		{desc: "valid resources", id: id, linux: valid, wantCode: codes.OK},
		{desc: "negative cpu shares", id: id, linux: &runtimeapi.LinuxContainerResources{CpuShares: -5}, wantCode: codes.InvalidArgument},
		{desc: "empty id", id: "", linux: valid, wantCode: codes.InvalidArgument},
		{desc: "missing container", id: "nope", linux: valid, wantCode: codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := e.runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: tc.id, Linux: tc.linux})
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
		})
	}
	st, err := e.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.GetStatus().GetResources().GetLinux(); !proto.Equal(got, valid) {
		t.Errorf("status resources %v, want %v", got, valid)
	}
}

func TestUpdatePodSandboxResources(t *testing.T) {
	e := newPodEnv(t)
	podID := e.runPod(t, "p")
	cases := []struct {
		desc     string
		req      *runtimeapi.UpdatePodSandboxResourcesRequest
		wantCode codes.Code
	}{
		{desc: "valid", req: &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: podID, Resources: &runtimeapi.LinuxContainerResources{CpuShares: 1024}}, wantCode: codes.OK},
		{desc: "invalid overhead", req: &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: podID, Overhead: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -2}}, wantCode: codes.InvalidArgument},
		{desc: "empty id", req: &runtimeapi.UpdatePodSandboxResourcesRequest{}, wantCode: codes.InvalidArgument},
		{desc: "missing pod", req: &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: "nope"}, wantCode: codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := e.runtime.UpdatePodSandboxResources(context.Background(), tc.req)
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
		})
	}
}
