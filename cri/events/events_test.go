package events

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func statuses(podID string) (*runtimeapi.PodSandboxStatus, []*runtimeapi.ContainerStatus) {
	if podID == "gone" {
		return nil, nil
	}
	return &runtimeapi.PodSandboxStatus{Id: podID}, []*runtimeapi.ContainerStatus{{Id: podID + "-c1"}, {Id: podID + "-c2"}}
}

func TestPublishCarriesStatuses(t *testing.T) {
	tests := []struct {
		desc           string
		podID          string
		wantPod        bool
		wantContainers int
	}{
		{desc: "live pod", podID: "p1", wantPod: true, wantContainers: 2},
		{desc: "pod already removed", podID: "gone"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := New(Options{Statuses: statuses, Now: func() time.Time { return time.Unix(0, 42) }})
			sub := b.Subscribe()
			defer sub.Close()
			b.Publish(runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, "c1", tc.podID)
			ev := <-sub.Events()
			if ev.ContainerId != "c1" || ev.ContainerEventType != runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT || ev.CreatedAt != 42 {
				t.Fatalf("event = %v", ev)
			}
			if (ev.PodSandboxStatus != nil) != tc.wantPod || len(ev.ContainersStatuses) != tc.wantContainers {
				t.Fatalf("statuses = %v, %v", ev.PodSandboxStatus, ev.ContainersStatuses)
			}
		})
	}
}

func TestEverySubscriberGetsEveryEventInOrder(t *testing.T) {
	b := New(Options{Statuses: statuses})
	const subs, n = 3, 200
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	for range subs {
		sub := b.Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			for i := range n {
				ev, ok := <-sub.Events()
				if !ok {
					errs <- fmt.Errorf("stream ended after %d events: %v", i, sub.Err())
					return
				}
				if want := fmt.Sprint(i); ev.ContainerId != want {
					errs <- fmt.Errorf("event %d is of container %s", i, ev.ContainerId)
					return
				}
			}
		}()
	}
	for i := range n {
		b.Publish(runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, fmt.Sprint(i), "p")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSlowSubscriberIsDroppedWithoutBlocking(t *testing.T) {
	tests := []struct {
		desc   string
		buffer int
		events int
	}{
		{desc: "one past a small buffer", buffer: 4, events: 5},
		{desc: "far past the buffer", buffer: 16, events: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := New(Options{Statuses: statuses, Buffer: tc.buffer})
			slow := b.Subscribe() // never reads
			fast := b.Subscribe()
			// The fast subscriber acknowledges each event, so that only the
			// slow one can fall behind.
			acks := make(chan struct{})
			go func() {
				for range fast.Events() {
					acks <- struct{}{}
				}
			}()
			for i := range tc.events {
				b.Publish(runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, fmt.Sprint(i), "p")
				select {
				case <-acks:
				case <-time.After(10 * time.Second):
					t.Fatalf("fast subscriber did not get event %d: %v", i, fast.Err())
				}
			}
			<-slow.Done()
			if err := slow.Err(); !errors.Is(err, errdefs.ErrResourceExhausted) {
				t.Fatalf("slow subscriber ended with %v, want ErrResourceExhausted", err)
			}
			// Its buffered events stay readable, then the channel closes.
			n := 0
			for range slow.Events() {
				n++
			}
			if n != tc.buffer {
				t.Fatalf("slow subscriber kept %d buffered events, want %d", n, tc.buffer)
			}
			if b.Subscribers() != 1 {
				t.Fatalf("subscribers = %d, want 1", b.Subscribers())
			}
			fast.Close()
		})
	}
}

func TestCloseAndShutdown(t *testing.T) {
	b := New(Options{})
	sub := b.Subscribe()
	sub.Close()
	sub.Close()
	if _, ok := <-sub.Events(); ok || sub.Err() != nil {
		t.Fatalf("closed subscription: open or err %v", sub.Err())
	}
	live := b.Subscribe()
	b.Close()
	<-live.Done()
	if !errors.Is(live.Err(), errdefs.ErrUnavailable) {
		t.Fatalf("after shutdown err = %v", live.Err())
	}
	late := b.Subscribe()
	if !errors.Is(late.Err(), errdefs.ErrUnavailable) {
		t.Fatalf("subscribe after shutdown err = %v", late.Err())
	}
	b.Publish(runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT, "c", "p") // goes nowhere, no panic
	if b.Subscribers() != 0 {
		t.Fatal("subscribers left after shutdown")
	}
}

func TestStatusesSetLateAndSkippedWithoutSubscribers(t *testing.T) {
	calls := 0
	counting := func(podID string) (*runtimeapi.PodSandboxStatus, []*runtimeapi.ContainerStatus) {
		calls++
		return statuses(podID)
	}
	b := New(Options{})
	b.SetStatuses(counting)
	b.Publish(runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, "c", "p")
	if calls != 0 {
		t.Fatalf("statuses built %d times with no subscriber", calls)
	}
	sub := b.Subscribe()
	defer sub.Close()
	b.Publish(runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, "c", "p")
	if ev := <-sub.Events(); calls != 1 || ev.PodSandboxStatus.GetId() != "p" {
		t.Fatalf("calls %d, event %v", calls, ev)
	}
}
