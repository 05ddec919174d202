package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPortForward(t *testing.T) {
	f := newStreamFixture(t)
	stopped := f.runPod(t, "stopped")
	if _, err := f.runtime.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: stopped}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc string
		req  *runtimeapi.PortForwardRequest
		want codes.Code
	}{
		{desc: "ready pod", req: &runtimeapi.PortForwardRequest{PodSandboxId: f.pod, Port: []int32{80}}},
		{desc: "id prefix", req: &runtimeapi.PortForwardRequest{PodSandboxId: f.pod[:12]}},
		{desc: "missing pod", req: &runtimeapi.PortForwardRequest{PodSandboxId: "nosuch"}, want: codes.NotFound},
		{desc: "stopped pod", req: &runtimeapi.PortForwardRequest{PodSandboxId: stopped}, want: codes.FailedPrecondition},
		{desc: "bad port", req: &runtimeapi.PortForwardRequest{PodSandboxId: f.pod, Port: []int32{70000}}, want: codes.InvalidArgument},
		{desc: "no pod id", req: &runtimeapi.PortForwardRequest{}, want: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			before := len(f.streamer.forwards)
			resp, err := f.runtime.PortForward(context.Background(), tc.req)
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
			if tc.want != codes.OK {
				if len(f.streamer.forwards) != before {
					t.Error("an invalid request reached the streaming server")
				}
				return
			}
			got := f.streamer.forwards[len(f.streamer.forwards)-1]
			if resp.Url == "" || got.PodSandboxId != f.pod {
				t.Errorf("url %q, streamer got %v", resp.Url, got)
			}
		})
	}
}
