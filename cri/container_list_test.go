package cri

import (
	"context"
	"io"
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestListContainers(t *testing.T) {
	e := newPodEnv(t)
	ctx := context.Background()
	p1, p2 := e.runPod(t, "a"), e.runPod(t, "b")
	a, b := e.createContainer(t, p1, "a"), e.createContainer(t, p2, "b")
	if _, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: a}); err != nil {
		t.Fatal(err)
	}
	state := func(s runtimeapi.ContainerState) *runtimeapi.ContainerStateValue {
		return &runtimeapi.ContainerStateValue{State: s}
	}
	cases := []struct {
		desc string
		f    *runtimeapi.ContainerFilter
		want []string
	}{
		{desc: "all", want: sortedIDs(a, b)},
		{desc: "id prefix", f: &runtimeapi.ContainerFilter{Id: b[:6]}, want: []string{b}},
		{desc: "pod", f: &runtimeapi.ContainerFilter{PodSandboxId: p1}, want: []string{a}},
		{desc: "running", f: &runtimeapi.ContainerFilter{State: state(runtimeapi.ContainerState_CONTAINER_RUNNING)}, want: []string{a}},
		{desc: "created", f: &runtimeapi.ContainerFilter{State: state(runtimeapi.ContainerState_CONTAINER_CREATED)}, want: []string{b}},
		{desc: "unknown state", f: &runtimeapi.ContainerFilter{State: state(runtimeapi.ContainerState_CONTAINER_UNKNOWN)}},
		{desc: "label", f: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"ctr": "b"}}, want: []string{b}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := e.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: tc.f})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range resp.Containers {
				got = append(got, c.Id)
				if c.PodSandboxId == "" || c.ImageRef == "" || c.CreatedAt == 0 {
					t.Errorf("container = %v", c)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			stream, err := e.runtime.StreamContainers(ctx, &runtimeapi.StreamContainersRequest{Filter: tc.f})
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
				for _, c := range msg.Containers {
					streamed = append(streamed, c.Id)
				}
			}
			if !slices.Equal(streamed, tc.want) {
				t.Errorf("streamed %q, want %q", streamed, tc.want)
			}
		})
	}
}
