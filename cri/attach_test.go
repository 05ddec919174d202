package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestAttach(t *testing.T) {
	f := newStreamFixture(t)
	cases := []struct {
		desc string
		req  *runtimeapi.AttachRequest
		want codes.Code
	}{
		{desc: "running container", req: &runtimeapi.AttachRequest{ContainerId: f.running, Stdin: true, Stdout: true, Stderr: true}},
		{desc: "id prefix", req: &runtimeapi.AttachRequest{ContainerId: f.running[:12], Stdout: true}},
		{desc: "missing container", req: &runtimeapi.AttachRequest{ContainerId: "nosuch", Stdout: true}, want: codes.NotFound},
		{desc: "container not running", req: &runtimeapi.AttachRequest{ContainerId: f.created, Stdout: true}, want: codes.FailedPrecondition},
		{desc: "tty with stderr", req: &runtimeapi.AttachRequest{ContainerId: f.running, Tty: true, Stdout: true, Stderr: true}, want: codes.InvalidArgument},
		{desc: "no stream", req: &runtimeapi.AttachRequest{ContainerId: f.running}, want: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			before := len(f.streamer.attaches)
			resp, err := f.runtime.Attach(context.Background(), tc.req)
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
			if tc.want != codes.OK {
				if len(f.streamer.attaches) != before {
					t.Error("an invalid request reached the streaming server")
				}
				return
			}
			got := f.streamer.attaches[len(f.streamer.attaches)-1]
			if resp.Url == "" || got.ContainerId != f.running || got.Stdout != tc.req.Stdout || got.Stdin != tc.req.Stdin {
				t.Errorf("url %q, streamer got %v", resp.Url, got)
			}
		})
	}
}
