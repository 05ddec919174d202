package cri

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestStatsRPCsUnimplementedWithoutCollector(t *testing.T) {
	rt := serveForTest(t, New(testConfig, Deps{}))
	ctx := context.Background()
	calls := []struct {
		desc string
		call func() error
	}{
		{"ContainerStats", func() error {
			_, err := rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: "c"})
			return err
		}},
		{"ListContainerStats", func() error {
			_, err := rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
			return err
		}},
		{"PodSandboxStats", func() error {
			_, err := rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: "p"})
			return err
		}},
		{"ListPodSandboxStats", func() error {
			_, err := rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
			return err
		}},
		{"ListMetricDescriptors", func() error {
			_, err := rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
			return err
		}},
		{"ListPodSandboxMetrics", func() error {
			_, err := rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
			return err
		}},
		{"StreamContainerStats", func() error {
			s, err := rt.StreamContainerStats(ctx, &runtimeapi.StreamContainerStatsRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"GetContainerEvents", func() error {
			s, err := rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
	}
	for _, tc := range calls {
		t.Run(tc.desc, func(t *testing.T) {
			if code := status.Code(tc.call()); code != codes.Unimplemented {
				t.Fatalf("code %v, want Unimplemented", code)
			}
		})
	}
}

func TestContainerStats(t *testing.T) {
	e := newStatsEnv(t)
	pod := e.pod(t, "p")
	running := e.container(t, pod, "p", "app", true)
	created := e.container(t, pod, "p", "init", false)
	tests := []struct {
		desc       string
		id         string
		wantCode   codes.Code
		wantCgroup bool
	}{
		{desc: "running container", id: running, wantCgroup: true},
		{desc: "by unique prefix", id: running[:12], wantCgroup: true},
		{desc: "created container has no cgroup yet", id: created},
		{desc: "missing container", id: "nope", wantCode: codes.NotFound},
		{desc: "no ID", wantCode: codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := e.runtime.ContainerStats(context.Background(), &runtimeapi.ContainerStatsRequest{ContainerId: tc.id})
			if status.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want %v", err, tc.wantCode)
			}
			if err != nil {
				return
			}
			s := resp.Stats
			if !slices.Contains([]string{running, created}, s.Attributes.Id) || s.Attributes.Metadata.Name == "" || s.Attributes.Labels["ctr"] == "" {
				t.Fatalf("attributes %v", s.Attributes)
			}
			if s.Cpu == nil || s.Memory == nil || s.Cpu.Timestamp == 0 {
				t.Fatalf("cpu %v memory %v: want them present", s.Cpu, s.Memory)
			}
			if got := s.Cpu.UsageCoreNanoSeconds != nil; got != tc.wantCgroup {
				t.Fatalf("cpu usage reported: %v, want %v", got, tc.wantCgroup)
			}
			if tc.wantCgroup {
				m := s.Memory
				if s.Cpu.UsageCoreNanoSeconds.Value != 4e9 || m.WorkingSetBytes.Value != 80<<20 || m.RssBytes.Value != 60<<20 ||
					m.UsageBytes.Value != 100<<20 || m.AvailableBytes.Value != 48<<20 || m.PageFaults.Value != 9 {
					t.Fatalf("cpu %v memory %v", s.Cpu, m)
				}
			}
			if w := s.WritableLayer; w == nil || w.UsedBytes.Value != 8192 || w.InodesUsed.Value != 5 || w.FsId.Mountpoint != "/var/lib/cricket/snapshots" {
				t.Fatalf("writable layer %v", w)
			}
		})
	}
}

func TestContainerStatsNanoCores(t *testing.T) {
	e := newStatsEnv(t)
	pod := e.pod(t, "p")
	id := e.container(t, pod, "p", "app", true)
	get := func() *runtimeapi.CpuUsage {
		resp, err := e.runtime.ContainerStats(context.Background(), &runtimeapi.ContainerStatsRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Stats.Cpu
	}
	if cpu := get(); cpu.UsageNanoCores != nil {
		t.Fatalf("first sample has a rate: %v", cpu)
	}
	e.advance(4 * time.Second)
	st, _ := e.cgroups.Stats(e.cgroupOf(t, id))
	st.CPU.UsageNanos += 2e9 // half a core for 4 s
	e.cgroups.Set(e.cgroupOf(t, id), st)
	if cpu := get(); cpu.UsageNanoCores.GetValue() != 5e8 || cpu.UsageCoreNanoSeconds.GetValue() != 6e9 {
		t.Fatalf("cpu %v, want 5e8 nano cores", cpu)
	}
}

func TestListContainerStatsFilters(t *testing.T) {
	e := newStatsEnv(t)
	p1, p2 := e.pod(t, "p1"), e.pod(t, "p2")
	a := e.container(t, p1, "p1", "a", true)
	b := e.container(t, p1, "p1", "b", false)
	c := e.container(t, p2, "p2", "c", true)
	tests := []struct {
		desc   string
		filter *runtimeapi.ContainerStatsFilter
		want   []string
	}{
		{desc: "no filter", want: []string{a, b, c}},
		{desc: "by ID", filter: &runtimeapi.ContainerStatsFilter{Id: c}, want: []string{c}},
		{desc: "by ID prefix", filter: &runtimeapi.ContainerStatsFilter{Id: a[:10]}, want: []string{a}},
		{desc: "by pod", filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: p1}, want: []string{a, b}},
		{desc: "by pod prefix", filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: p2[:10]}, want: []string{c}},
		{desc: "by label", filter: &runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"ctr": "b"}}, want: []string{b}},
		{desc: "pod and label that disagree", filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: p2, LabelSelector: map[string]string{"ctr": "a"}}},
		{desc: "unknown pod", filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: "nope"}},
		{desc: "unknown ID", filter: &runtimeapi.ContainerStatsFilter{Id: "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := e.runtime.ListContainerStats(context.Background(), &runtimeapi.ListContainerStatsRequest{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range resp.Stats {
				got = append(got, s.Attributes.Id)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestStreamContainerStatsBatches(t *testing.T) {
	defer func(n int) { statsBatch = n }(statsBatch)
	statsBatch = 3
	e := newStatsEnv(t)
	pod := e.pod(t, "p")
	for _, name := range []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7"} {
		e.container(t, pod, "p", name, name != "c4")
	}
	tests := []struct {
		desc        string
		filter      *runtimeapi.ContainerStatsFilter
		wantBatches []int
	}{
		{desc: "all in batches", wantBatches: []int{3, 3, 1}},
		{desc: "one", filter: &runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"ctr": "c4"}}, wantBatches: []int{1}},
		{desc: "none: no message, just EOF", filter: &runtimeapi.ContainerStatsFilter{Id: "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			stream, err := e.runtime.StreamContainerStats(context.Background(), &runtimeapi.StreamContainerStatsRequest{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			var batches []int
			seen := map[string]bool{}
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				batches = append(batches, len(resp.ContainerStats))
				for _, s := range resp.ContainerStats {
					if seen[s.Attributes.Id] {
						t.Fatalf("container %s sent twice", s.Attributes.Id)
					}
					seen[s.Attributes.Id] = true
				}
			}
			if !slices.Equal(batches, tc.wantBatches) {
				t.Fatalf("batches %v, want %v", batches, tc.wantBatches)
			}
		})
	}
}
