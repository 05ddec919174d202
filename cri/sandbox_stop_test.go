package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestStopAndRemovePodSandbox(t *testing.T) {
	e := newPodEnv(t)
	ctx := context.Background()
	id := e.runPod(t, "a")
	ctr := e.createContainer(t, id, "c")
	if _, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	st, err := e.runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("state = %v", st.Status.State)
	}
	if len(st.ContainersStatuses) != 1 || st.ContainersStatuses[0].State != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("container statuses = %v", st.ContainersStatuses)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
	}
	_, err = e.runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if status.Code(err) != codes.NotFound {
		t.Errorf("status after remove: %v", err)
	}
	_, err = e.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctr})
	if status.Code(err) != codes.NotFound {
		t.Errorf("container status after pod removal: %v", err)
	}
	if held := e.rec.Held(); len(held) != 0 {
		t.Errorf("leaked %q", held)
	}
}
