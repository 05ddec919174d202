package cri

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// The RPCs below are not built yet. Each answers codes.Unimplemented with a
// message naming it, never a fake success. A method moves to its own file
// (one file per RPC) when it is built.

func notImplemented(rpc, area string) error {
	return fmt.Errorf("cricket does not implement %s yet (%s): %w", rpc, area, errdefs.ErrNotImplemented)
}

// RunPodSandbox is not built yet.
func (s *Service) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	return nil, notImplemented("RunPodSandbox", "pods and containers")
}

// StopPodSandbox is not built yet.
func (s *Service) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	return nil, notImplemented("StopPodSandbox", "pods and containers")
}

// RemovePodSandbox is not built yet.
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return nil, notImplemented("RemovePodSandbox", "pods and containers")
}

// PodSandboxStatus is not built yet.
func (s *Service) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	return nil, notImplemented("PodSandboxStatus", "pods and containers")
}

// ListPodSandbox is not built yet.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return nil, notImplemented("ListPodSandbox", "pods and containers")
}

// StreamPodSandboxes is not built yet.
func (s *Service) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	return notImplemented("StreamPodSandboxes", "pods and containers")
}

// CreateContainer is not built yet.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	return nil, notImplemented("CreateContainer", "pods and containers")
}

// StartContainer is not built yet.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	return nil, notImplemented("StartContainer", "pods and containers")
}

// StopContainer is not built yet.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	return nil, notImplemented("StopContainer", "pods and containers")
}

// RemoveContainer is not built yet.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	return nil, notImplemented("RemoveContainer", "pods and containers")
}

// ListContainers is not built yet.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return nil, notImplemented("ListContainers", "pods and containers")
}

// StreamContainers is not built yet.
func (s *Service) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	return notImplemented("StreamContainers", "pods and containers")
}

// ContainerStatus is not built yet.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return nil, notImplemented("ContainerStatus", "pods and containers")
}

// UpdateContainerResources is not built yet.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	return nil, notImplemented("UpdateContainerResources", "security and resources")
}

// ReopenContainerLog is not built yet.
func (s *Service) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	return nil, notImplemented("ReopenContainerLog", "pods and containers")
}

// ExecSync is not built yet.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	return nil, notImplemented("ExecSync", "pods and containers")
}

// Exec is not built yet.
func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return nil, notImplemented("Exec", "streaming and stats")
}

// Attach is not built yet.
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return nil, notImplemented("Attach", "streaming and stats")
}

// PortForward is not built yet.
func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return nil, notImplemented("PortForward", "streaming and stats")
}

// ContainerStats is not built yet.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	return nil, notImplemented("ContainerStats", "streaming and stats")
}

// ListContainerStats is not built yet.
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return nil, notImplemented("ListContainerStats", "streaming and stats")
}

// StreamContainerStats is not built yet.
func (s *Service) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	return notImplemented("StreamContainerStats", "streaming and stats")
}

// PodSandboxStats is not built yet.
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	return nil, notImplemented("PodSandboxStats", "streaming and stats")
}

// ListPodSandboxStats is not built yet.
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	return nil, notImplemented("ListPodSandboxStats", "streaming and stats")
}

// StreamPodSandboxStats is not built yet.
func (s *Service) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	return notImplemented("StreamPodSandboxStats", "streaming and stats")
}

// CheckpointContainer is not built yet.
func (s *Service) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return nil, notImplemented("CheckpointContainer", "checkpoint/restore")
}

// CheckpointPod is not built yet.
func (s *Service) CheckpointPod(ctx context.Context, req *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	return nil, notImplemented("CheckpointPod", "checkpoint/restore")
}

// RestorePod is not built yet.
func (s *Service) RestorePod(ctx context.Context, req *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	return nil, notImplemented("RestorePod", "checkpoint/restore")
}

// GetContainerEvents is not built yet.
func (s *Service) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	return notImplemented("GetContainerEvents", "streaming and stats")
}

// ListMetricDescriptors is not built yet.
func (s *Service) ListMetricDescriptors(ctx context.Context, req *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return nil, notImplemented("ListMetricDescriptors", "streaming and stats")
}

// ListPodSandboxMetrics is not built yet.
func (s *Service) ListPodSandboxMetrics(ctx context.Context, req *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	return nil, notImplemented("ListPodSandboxMetrics", "streaming and stats")
}

// StreamPodSandboxMetrics is not built yet.
func (s *Service) StreamPodSandboxMetrics(req *runtimeapi.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	return notImplemented("StreamPodSandboxMetrics", "streaming and stats")
}

// UpdatePodSandboxResources is not built yet.
func (s *Service) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	return nil, notImplemented("UpdatePodSandboxResources", "security and resources")
}
