package cri

import (
	"context"
	"io"
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestListPodSandbox(t *testing.T) {
	e := newPodEnv(t)
	ctx := context.Background()
	a, b := e.runPod(t, "a"), e.runPod(t, "b")
	if _, err := e.runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: b}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc string
		f    *runtimeapi.PodSandboxFilter
		want []string
	}{
		{desc: "all", want: sortedIDs(a, b)},
		{desc: "id", f: &runtimeapi.PodSandboxFilter{Id: a}, want: []string{a}},
		{desc: "ready", f: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}, want: []string{a}},
		{desc: "not ready", f: &runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}}, want: []string{b}},
		{desc: "label", f: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"pod": "b"}}, want: []string{b}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := e.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: tc.f})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range resp.Items {
				got = append(got, p.Id)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			stream, err := e.runtime.StreamPodSandboxes(ctx, &runtimeapi.StreamPodSandboxesRequest{Filter: tc.f})
			if err != nil {
				t.Fatal(err)
			}
			var streamed []string
			for {
				msg, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range msg.PodSandboxes {
					streamed = append(streamed, p.Id)
				}
			}
			if !slices.Equal(streamed, tc.want) {
				t.Errorf("streamed %q, want %q", streamed, tc.want)
			}
		})
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestChunks(t *testing.T) {
	cases := []struct {
		desc string
		n    int
		want int
	}{
		{desc: "empty is one empty message", n: 0, want: 1},
		{desc: "exact", n: 4, want: 2},
		{desc: "remainder", n: 5, want: 3},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := len(chunks(make([]int, tc.n), 2)); got != tc.want {
				t.Errorf("chunks = %d, want %d", got, tc.want)
			}
		})
	}
}
