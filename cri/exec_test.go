package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestExec(t *testing.T) {
	f := newStreamFixture(t)
	cases := []struct {
		desc string
		req  *runtimeapi.ExecRequest
		want codes.Code
	}{
		{desc: "running container", req: &runtimeapi.ExecRequest{ContainerId: f.running, Cmd: []string{"sh"}, Stdin: true, Stdout: true, Tty: true}},
		{desc: "id prefix", req: &runtimeapi.ExecRequest{ContainerId: f.running[:12], Cmd: []string{"ls"}, Stdout: true, Stderr: true}},
		{desc: "missing container", req: &runtimeapi.ExecRequest{ContainerId: "nosuch", Cmd: []string{"ls"}, Stdout: true}, want: codes.NotFound},
		{desc: "container not running", req: &runtimeapi.ExecRequest{ContainerId: f.created, Cmd: []string{"ls"}, Stdout: true}, want: codes.FailedPrecondition},
		{desc: "tty with stderr", req: &runtimeapi.ExecRequest{ContainerId: f.running, Cmd: []string{"ls"}, Tty: true, Stderr: true}, want: codes.InvalidArgument},
		{desc: "no stream", req: &runtimeapi.ExecRequest{ContainerId: f.running, Cmd: []string{"ls"}}, want: codes.InvalidArgument},
		{desc: "no command", req: &runtimeapi.ExecRequest{ContainerId: f.running, Stdout: true}, want: codes.InvalidArgument},
		{desc: "no container id", req: &runtimeapi.ExecRequest{Cmd: []string{"ls"}, Stdout: true}, want: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			before := len(f.streamer.execs)
			resp, err := f.runtime.Exec(context.Background(), tc.req)
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
			if tc.want != codes.OK {
				if len(f.streamer.execs) != before {
					t.Error("an invalid request reached the streaming server")
				}
				return
			}
			if resp.Url == "" {
				t.Error("no URL")
			}
			got := f.streamer.execs[len(f.streamer.execs)-1]
			if got.ContainerId != f.running || got.Cmd[0] != tc.req.Cmd[0] || got.Tty != tc.req.Tty || got.Stdin != tc.req.Stdin {
				t.Errorf("streamer got %v", got)
			}
		})
	}
}

func TestStreamingRPCsWithoutServer(t *testing.T) {
	e := newStreamEnv(t, false)
	ctx := context.Background()
	_, err := e.runtime.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: "c", Cmd: []string{"ls"}, Stdout: true})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Exec: %v", err)
	}
	_, err = e.runtime.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: "c", Stdout: true})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Attach: %v", err)
	}
	_, err = e.runtime.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "p"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("PortForward: %v", err)
	}
}
