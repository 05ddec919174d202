package cri

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestCreateContainerValidation(t *testing.T) {
	noImage := testContainerConfig("c")
	noImage.Image = nil
	cases := []struct {
		desc  string
		podID string
		cfg   *runtimeapi.ContainerConfig
		want  codes.Code
	}{
		{desc: "no pod id", cfg: testContainerConfig("c"), want: codes.InvalidArgument},
		{desc: "no config", podID: "pod", want: codes.InvalidArgument},
		{desc: "no metadata", podID: "pod", cfg: &runtimeapi.ContainerConfig{Image: &runtimeapi.ImageSpec{Image: "busybox"}}, want: codes.InvalidArgument},
		{desc: "no image", podID: "pod", cfg: noImage, want: codes.InvalidArgument},
		{desc: "missing pod", podID: "nope", cfg: testContainerConfig("c"), want: codes.NotFound},
		{desc: "image not pulled", podID: "pod", cfg: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: "absent"}}, want: codes.NotFound},
		{desc: "valid", podID: "pod", cfg: testContainerConfig("c"), want: codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newPodEnv(t)
			podID := tc.podID
			if podID == "pod" {
				podID = e.runPod(t, "a")
			}
			_, err := e.runtime.CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: tc.cfg})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
}
