package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/cri/events"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// EventSource is what GetContainerEvents needs of the event broker
// (*events.Broker).
type EventSource interface {
	Subscribe() *events.Subscription
}

// GetContainerEvents streams container events until the client goes away.
// A client that falls too far behind is disconnected (ResourceExhausted)
// instead of holding up the runtime; the kubelet then relists and
// subscribes again.
func (s *Service) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	if s.deps.Events == nil {
		return notImplemented("GetContainerEvents", statsArea)
	}
	sub := s.deps.Events.Subscribe()
	defer sub.Close()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.Done():
			// Dropped: end at once rather than drain a backlog the
			// client could not keep up with.
			return sub.Err()
		case ev, ok := <-sub.Events():
			if !ok {
				return sub.Err()
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

// EventStatuses returns the events.StatusFunc that gives each container
// event the CRI status of its pod sandbox and of all the pod's containers,
// built the way PodSandboxStatus builds them. The daemon passes it to
// events.New.
func EventStatuses(sandboxes PodService, containers ContainerService) events.StatusFunc {
	return func(podID string) (*runtimeapi.PodSandboxStatus, []*runtimeapi.ContainerStatus) {
		if podID == "" {
			return nil, nil
		}
		var pod *runtimeapi.PodSandboxStatus
		if sb, err := sandboxes.Get(podID); err == nil {
			pod = toCRIPodSandboxStatus(sb)
		}
		var ctrs []*runtimeapi.ContainerStatus
		for _, c := range containers.List(container.Filter{PodID: podID}) {
			ctrs = append(ctrs, toCRIContainerStatus(c))
		}
		return pod, ctrs
	}
}
