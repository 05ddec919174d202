package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestRunPodSandboxValidation(t *testing.T) {
	cases := []struct {
		desc string
		cfg  *runtimeapi.PodSandboxConfig
		want codes.Code
	}{
		{desc: "no config", want: codes.InvalidArgument},
		{desc: "no metadata", cfg: &runtimeapi.PodSandboxConfig{}, want: codes.InvalidArgument},
		{desc: "no uid", cfg: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "a", Namespace: "b"}}, want: codes.InvalidArgument},
		{desc: "valid", cfg: testPodConfig("a"), want: codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newPodEnv(t)
			resp, err := e.runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: tc.cfg})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
			if err == nil && len(resp.PodSandboxId) != 64 {
				t.Errorf("id = %q", resp.PodSandboxId)
			}
		})
	}
}

func TestRunPodSandboxNameInUse(t *testing.T) {
	e := newPodEnv(t)
	e.runPod(t, "a")
	_, err := e.runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: testPodConfig("a")})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("err = %v, want AlreadyExists", err)
	}
}

func TestPodSandboxRPCsWithoutService(t *testing.T) {
	env := newTestEnv(t, testConfig)
	ctx := context.Background()
	_, err := env.runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: "x"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("StopPodSandbox code = %v", status.Code(err))
	}
	_, err = env.runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("CreateContainer code = %v", status.Code(err))
	}
}
