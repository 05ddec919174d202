package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/stats"
)

// ListMetricDescriptors describes the fixed set of metrics that
// ListPodSandboxMetrics reports.
func (s *Service) ListMetricDescriptors(ctx context.Context, req *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	if _, err := s.statsServices("ListMetricDescriptors"); err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListMetricDescriptorsResponse{}
	for _, d := range stats.Descriptors() {
		resp.Descriptors = append(resp.Descriptors, &runtimeapi.MetricDescriptor{Name: d.Name, Help: d.Help, LabelKeys: d.Labels})
	}
	return resp, nil
}
