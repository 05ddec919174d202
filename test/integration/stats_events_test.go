package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// subscribe opens a GetContainerEvents stream.
func subscribe(t *testing.T, ctx context.Context, d *harness.Daemon) runtimeapi.RuntimeService_GetContainerEventsClient {
	t.Helper()
	s, err := d.Runtime().GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatalf("GetContainerEvents: %v", err)
	}
	return s
}

var lifecycle = []runtimeapi.ContainerEventType{
	runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
	runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
	runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
	runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
}

// TestContainerEventsThreeSubscribers runs 50 pod life-cycles while three
// clients subscribe, and checks that each client sees every container's
// CREATED, STARTED, STOPPED and DELETED, in that order.
func TestContainerEventsThreeSubscribers(t *testing.T) {
	d := startPodDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const subscribers, pods = 3, 50
	streams := make([]runtimeapi.RuntimeService_GetContainerEventsClient, subscribers)
	for i := range streams {
		streams[i] = subscribe(t, ctx, d)
	}
	time.Sleep(200 * time.Millisecond) // let the subscriptions register

	results := make([]map[string][]runtimeapi.ContainerEventType, subscribers)
	var wg sync.WaitGroup
	for i, s := range streams {
		results[i] = map[string][]runtimeapi.ContainerEventType{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			deleted := 0
			for deleted < pods {
				ev, err := s.Recv()
				if err != nil {
					if !errors.Is(ctx.Err(), context.Canceled) {
						t.Errorf("subscriber %d: %v", i, err)
					}
					return
				}
				results[i][ev.ContainerId] = append(results[i][ev.ContainerId], ev.ContainerEventType)
				if ev.ContainerEventType == runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT {
					deleted++
				}
				if ev.ContainerEventType != runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT && ev.PodSandboxStatus.GetId() == "" {
					t.Errorf("subscriber %d: %v event of %s without its pod's status", i, ev.ContainerEventType, ev.ContainerId)
				}
			}
		}()
	}

	rt := d.Runtime()
	var ids []string
	for i := range pods {
		ids = append(ids, podLifecycle(t, rt, fmt.Sprintf("ev%d", i)))
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		cancel()
		<-waited
	}
	for i, got := range results {
		for _, id := range ids {
			if fmt.Sprint(got[id]) != fmt.Sprint(lifecycle) {
				t.Errorf("subscriber %d saw %v for container %s, want %v", i, got[id], id, lifecycle)
			}
		}
	}
}

// podLifecycle runs a pod with a container that exits at once, as the
// kubelet would: wait for the exit, remove the container, stop and remove
// the pod. It returns the container's ID.
func podLifecycle(t *testing.T, rt runtimeapi.RuntimeServiceClient, name string) string {
	t.Helper()
	ctx := context.Background()
	pod := testPod(t, name, runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	ctrID := startContainer(t, rt, podID, pod, testContainer(name, "true"))
	testutil.Eventually(t, "container "+name+" to exit", 10*time.Second, func() error {
		return stateIs(containerStatus(t, rt, ctrID).State, runtimeapi.ContainerState_CONTAINER_EXITED)
	})
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ctrID}); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	return ctrID
}

// TestOOMKilledContainerEvent runs a container that outgrows its memory
// limit and checks that subscribers see it stop with the status reason
// OOMKilled, and that ContainerStatus says the same.
func TestOOMKilledContainerEvent(t *testing.T) {
	d := startPodDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := subscribe(t, ctx, d)
	rt := d.Runtime()
	pod := testPod(t, "oom", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	t.Cleanup(func() {
		c := context.Background()
		_, _ = rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		_, _ = rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	cfg := testContainer("oom", burner) // a 64 MiB buffer in a 16 MiB cgroup
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 16 << 20, MemorySwapLimitInBytes: 16 << 20,
	}}
	ctrID := startContainer(t, rt, podID, pod, cfg)
	for {
		ev, err := events.Recv()
		if err != nil {
			t.Fatalf("no STOPPED event for the OOM-killed container: %v", err)
		}
		if ev.ContainerId != ctrID || ev.ContainerEventType != runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT {
			continue
		}
		var reason string
		for _, cs := range ev.ContainersStatuses {
			if cs.Id == ctrID {
				reason = cs.Reason
			}
		}
		if reason != "OOMKilled" {
			t.Errorf("STOPPED event carries reason %q, want OOMKilled", reason)
		}
		break
	}
	if st := containerStatus(t, rt, ctrID); st.Reason != "OOMKilled" || st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("status = %v %q, want EXITED OOMKilled", st.State, st.Reason)
	}
}
