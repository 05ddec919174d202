package cri

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestContainerLifecycle(t *testing.T) {
	e := newPodEnv(t)
	ctx := context.Background()
	pod := e.runPod(t, "a")
	id := e.createContainer(t, pod, "c")
	statusOf := func() *runtimeapi.ContainerStatus {
		t.Helper()
		resp, err := e.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Info["info"] == "" {
			t.Error("verbose status has no info")
		}
		return resp.Status
	}
	st := statusOf()
	if st.State != runtimeapi.ContainerState_CONTAINER_CREATED || st.CreatedAt == 0 || st.StartedAt != 0 ||
		st.ImageRef != "docker.io/library/busybox@sha256:d1" || st.ImageId != "sha256:b0" || st.Image.GetImage() != "busybox" ||
		st.StopSignal != runtimeapi.Signal_SIGNAL_SIGTERM || st.User.GetLinux() == nil {
		t.Errorf("created status = %v", st)
	}
	if _, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.StartedAt == 0 {
		t.Errorf("running status = %v", st)
	}
	e.shims.Exit(id, 1, false)
	deadline := time.Now().Add(5 * time.Second)
	for statusOf().State != runtimeapi.ContainerState_CONTAINER_EXITED && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := statusOf(); st.ExitCode != 1 || st.Reason != "Error" || st.FinishedAt == 0 {
		t.Errorf("exited status = %v", st)
	}
	_, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("restart exited: %v", err)
	}
}

func TestContainerRPCsOnMissingContainer(t *testing.T) {
	e := newPodEnv(t)
	ctx := context.Background()
	cases := []struct {
		desc string
		call func() error
		want codes.Code
	}{
		{desc: "status", want: codes.NotFound, call: func() error {
			_, err := e.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "nope"})
			return err
		}},
		{desc: "start", want: codes.NotFound, call: func() error {
			_, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: "nope"})
			return err
		}},
		{desc: "stop", want: codes.OK, call: func() error {
			_, err := e.runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: "nope", Timeout: 10})
			return err
		}},
		{desc: "remove", want: codes.OK, call: func() error {
			_, err := e.runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: "nope"})
			return err
		}},
		{desc: "exec", want: codes.NotFound, call: func() error {
			_, err := e.runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "nope", Cmd: []string{"true"}})
			return err
		}},
		{desc: "reopen log", want: codes.NotFound, call: func() error {
			_, err := e.runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: "nope"})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Errorf("code = %v, want %v", got, tc.want)
			}
		})
	}
}

// The kubelet creates containers from image IDs; the status names the
// image by its tag, as with containerd.
func TestContainerStatusNamesImageByTag(t *testing.T) {
	e := newPodEnv(t)
	pod := e.runPod(t, "a")
	cfg := testContainerConfig("c")
	cfg.Image = &runtimeapi.ImageSpec{Image: "sha256:b0", UserSpecifiedImage: "busybox"}
	resp, err := e.runtime.CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{PodSandboxId: pod, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.runtime.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: resp.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	if img := st.Status.Image; img.GetImage() != "docker.io/library/busybox:latest" || img.GetUserSpecifiedImage() != "busybox" || st.Status.ImageId != "sha256:b0" {
		t.Errorf("image = %v, id %q", img, st.Status.ImageId)
	}
}
