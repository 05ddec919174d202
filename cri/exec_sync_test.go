package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestExecSync(t *testing.T) {
	cases := []struct {
		desc   string
		cmd    []string
		result container.ExecResult
		want   codes.Code
	}{
		{desc: "output", cmd: []string{"echo", "hi"}, result: container.ExecResult{ExitCode: 3, Stdout: []byte("hi\n"), Stderr: []byte("e")}},
		{desc: "timeout is DeadlineExceeded", cmd: []string{"sleep", "10"}, result: container.ExecResult{TimedOut: true}, want: codes.DeadlineExceeded},
		{desc: "empty command", want: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newPodEnv(t)
			ctx := context.Background()
			id := e.createContainer(t, e.runPod(t, "a"), "c")
			if _, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
				t.Fatal(err)
			}
			e.shims.ExecResult = tc.result
			resp, err := e.runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: tc.cmd, Timeout: 1})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
			if err == nil && (resp.ExitCode != tc.result.ExitCode || string(resp.Stdout) != string(tc.result.Stdout) || string(resp.Stderr) != string(tc.result.Stderr)) {
				t.Errorf("resp = %v", resp)
			}
		})
	}
}
