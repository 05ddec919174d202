package daemon

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/network"
	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/pkg/tracing"
	"github.com/cricket-cri/cricket/sandbox"
)

// CNI is what the pod service needs from network.CNI.
type CNI interface {
	Setup(ctx context.Context, pod *network.Pod) (*network.Result, error)
	Teardown(ctx context.Context, pod *network.Pod) error
}

// CNINetwork adapts network.CNI to the pod service's Network interface.
type CNINetwork struct{ CNI CNI }

var _ sandbox.Network = CNINetwork{}

// Setup attaches the pod to the pod network with its port mappings and
// bandwidth annotations, and reports its IPs (the primary first).
func (n CNINetwork) Setup(ctx context.Context, req sandbox.NetworkRequest) (_ sandbox.NetworkStatus, err error) {
	defer metrics.ObservePhase(metrics.PhaseCNI, time.Now())
	ctx, span := tracing.Start(ctx, tracing.SpanCNISetup, attribute.String("pod.id", req.PodID))
	defer tracing.End(span, &err)
	res, err := n.CNI.Setup(ctx, cniPod(req))
	if err != nil {
		return sandbox.NetworkStatus{}, err
	}
	st := sandbox.NetworkStatus{IP: res.IPs[0].String()}
	for _, ip := range res.IPs[1:] {
		st.AdditionalIPs = append(st.AdditionalIPs, ip.String())
	}
	return st, nil
}

// Teardown detaches the pod; the network layer treats a pod that is not
// attached, or whose netns is gone, as done.
func (n CNINetwork) Teardown(ctx context.Context, req sandbox.NetworkRequest) (err error) {
	ctx, span := tracing.Start(ctx, tracing.SpanCNITeardown, attribute.String("pod.id", req.PodID))
	defer tracing.End(span, &err)
	return n.CNI.Teardown(ctx, cniPod(req))
}

func cniPod(req sandbox.NetworkRequest) *network.Pod {
	md := req.Config.GetMetadata()
	pod := &network.Pod{
		ID:          req.PodID,
		Name:        md.GetName(),
		Namespace:   md.GetNamespace(),
		UID:         md.GetUid(),
		NetNS:       req.NetNS,
		Annotations: req.Config.GetAnnotations(),
	}
	for _, pm := range req.Config.GetPortMappings() {
		if pm.GetHostPort() <= 0 {
			continue // a container port without a host port needs no mapping
		}
		pod.PortMappings = append(pod.PortMappings, network.PortMapping{
			Protocol:      protocol(pm.GetProtocol()),
			ContainerPort: pm.GetContainerPort(),
			HostPort:      pm.GetHostPort(),
			HostIP:        pm.GetHostIp(),
		})
	}
	return pod
}

func protocol(p runtimeapi.Protocol) string {
	switch p {
	case runtimeapi.Protocol_UDP:
		return "udp"
	case runtimeapi.Protocol_SCTP:
		return "sctp"
	default:
		return "tcp"
	}
}
