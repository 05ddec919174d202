package cri

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPodSandboxStats(t *testing.T) {
	e := newStatsEnv(t)
	pod := e.pod(t, "p")
	a := e.container(t, pod, "p", "a", true)
	b := e.container(t, pod, "p", "b", false)
	stopped := e.pod(t, "stopped")
	if _, err := e.runtime.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: stopped}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc           string
		id             string
		wantCode       codes.Code
		wantContainers []string
	}{
		{desc: "ready pod", id: pod, wantContainers: []string{a, b}},
		{desc: "by prefix", id: pod[:12], wantContainers: []string{a, b}},
		{desc: "stopped pod", id: stopped},
		{desc: "missing pod", id: "nope", wantCode: codes.NotFound},
		{desc: "no ID", wantCode: codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := e.runtime.PodSandboxStats(context.Background(), &runtimeapi.PodSandboxStatsRequest{PodSandboxId: tc.id})
			if status.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want %v", err, tc.wantCode)
			}
			if err != nil {
				return
			}
			s := resp.Stats
			if s.Attributes.Metadata.Namespace != "ns" || s.Attributes.Labels["pod"] == "" {
				t.Fatalf("attributes %v", s.Attributes)
			}
			l := s.Linux
			if l.Process.ProcessCount.GetValue() != 2 || l.Cpu == nil || l.Memory == nil {
				t.Fatalf("linux stats %v", l)
			}
			if n := l.Network; n == nil || n.DefaultInterface.Name != "eth0" || n.DefaultInterface.RxBytes.Value != 1000 || len(n.Interfaces) != 1 {
				t.Fatalf("network %v", n)
			}
			var got []string
			for _, cs := range l.Containers {
				got = append(got, cs.Attributes.Id)
			}
			slices.Sort(got)
			if !slices.Equal(got, slices.Sorted(slices.Values(tc.wantContainers))) {
				t.Fatalf("containers %v, want %v", got, tc.wantContainers)
			}
		})
	}
}

func TestListPodSandboxStats(t *testing.T) {
	defer func(n int) { statsBatch = n }(statsBatch)
	statsBatch = 2
	e := newStatsEnv(t)
	p1, p2, p3 := e.pod(t, "p1"), e.pod(t, "p2"), e.pod(t, "p3")
	e.container(t, p1, "p1", "a", true)
	stopped := e.pod(t, "stopped")
	if _, err := e.runtime.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: stopped}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc        string
		filter      *runtimeapi.PodSandboxStatsFilter
		want        []string
		wantBatches []int
	}{
		{desc: "ready pods only", want: []string{p1, p2, p3}, wantBatches: []int{2, 1}},
		{desc: "by ID prefix", filter: &runtimeapi.PodSandboxStatsFilter{Id: p2[:10]}, want: []string{p2}, wantBatches: []int{1}},
		{desc: "by label", filter: &runtimeapi.PodSandboxStatsFilter{LabelSelector: map[string]string{"pod": "p3"}}, want: []string{p3}, wantBatches: []int{1}},
		{desc: "stopped pod by ID", filter: &runtimeapi.PodSandboxStatsFilter{Id: stopped}},
		{desc: "unknown ID", filter: &runtimeapi.PodSandboxStatsFilter{Id: "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			want := slices.Sorted(slices.Values(tc.want))
			resp, err := e.runtime.ListPodSandboxStats(context.Background(), &runtimeapi.ListPodSandboxStatsRequest{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range resp.Stats {
				got = append(got, s.Attributes.Id)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("list: got %v, want %v", got, want)
			}

			stream, err := e.runtime.StreamPodSandboxStats(context.Background(), &runtimeapi.StreamPodSandboxStatsRequest{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			got, batches := nil, []int(nil)
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				batches = append(batches, len(resp.PodSandboxStats))
				for _, s := range resp.PodSandboxStats {
					if slices.Contains(got, s.Attributes.Id) {
						t.Fatalf("pod %s streamed twice", s.Attributes.Id)
					}
					got = append(got, s.Attributes.Id)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) || !slices.Equal(batches, tc.wantBatches) {
				t.Fatalf("stream: got %v in batches %v, want %v in %v", got, batches, want, tc.wantBatches)
			}
		})
	}
}
