package cri

import (
	"context"
	"slices"
	"syscall"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestStopAndRemoveContainer(t *testing.T) {
	e := newPodEnv(t)
	ctx := context.Background()
	id := e.createContainer(t, e.runPod(t, "a"), "c")
	if _, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 5}); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	if sig := e.shims.Proc(id).Signals; !slices.Equal(sig, []syscall.Signal{syscall.SIGTERM}) {
		t.Errorf("signals = %v", sig)
	}
	st, err := e.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.Status.ExitCode != 143 {
		t.Errorf("status = %v", st.Status)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
	}
}
