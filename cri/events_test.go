package cri

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestGetContainerEvents(t *testing.T) {
	e := newStatsEnv(t)
	pod := e.pod(t, "p")
	a := e.container(t, pod, "p", "a", true)
	e.container(t, pod, "p", "b", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const subscribers = 3
	streams := make([]runtimeapi.RuntimeService_GetContainerEventsClient, subscribers)
	for i := range streams {
		s, err := e.runtime.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		streams[i] = s
	}
	waitSubscribers(t, e, subscribers)

	// The container service publishes; here the test does it for it.
	types := []runtimeapi.ContainerEventType{
		runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
	}
	const rounds = 50
	for i := range rounds {
		for _, typ := range types {
			e.broker.Publish(typ, fmt.Sprintf("%s-%d", a, i), pod)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, subscribers)
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds * len(types) {
				ev, err := s.Recv()
				if err != nil {
					errs <- fmt.Errorf("event %d: %w", i, err)
					return
				}
				if want := fmt.Sprintf("%s-%d", a, i/len(types)); ev.ContainerId != want || ev.ContainerEventType != types[i%len(types)] {
					errs <- fmt.Errorf("event %d is %s %v, want %s %v", i, ev.ContainerId, ev.ContainerEventType, want, types[i%len(types)])
					return
				}
				if ev.PodSandboxStatus.GetId() != pod || len(ev.ContainersStatuses) != 2 || ev.CreatedAt == 0 {
					errs <- fmt.Errorf("event %d carries pod %v and %d container statuses", i, ev.PodSandboxStatus, len(ev.ContainersStatuses))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// A client that goes away is unsubscribed.
	cancel()
	waitSubscribers(t, e, 0)
}

func waitSubscribers(t *testing.T, e *statsEnv, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); e.broker.Subscribers() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", e.broker.Subscribers(), n)
		}
	}
}

func TestEventStatuses(t *testing.T) {
	e := newStatsEnv(t)
	pod := e.pod(t, "p")
	e.container(t, pod, "p", "a", true)
	statuses := EventStatuses(e.sbs, e.ctrs)
	tests := []struct {
		desc           string
		podID          string
		wantPod        bool
		wantContainers int
	}{
		{desc: "live pod", podID: pod, wantPod: true, wantContainers: 1},
		{desc: "removed pod", podID: "gone"},
		{desc: "no pod ID", podID: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			p, cs := statuses(tc.podID)
			if (p != nil) != tc.wantPod || len(cs) != tc.wantContainers {
				t.Fatalf("pod %v, %d containers", p, len(cs))
			}
			if p != nil && p.State != runtimeapi.PodSandboxState_SANDBOX_READY {
				t.Fatalf("pod state %v", p.State)
			}
		})
	}
}
