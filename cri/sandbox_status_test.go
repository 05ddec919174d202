package cri

import (
	"context"
	"encoding/json"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPodSandboxStatus(t *testing.T) {
	e := newPodEnv(t)
	id := e.runPod(t, "a")
	resp, err := e.runtime.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id[:8], Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.Status
	if st.Id != id || st.State != runtimeapi.PodSandboxState_SANDBOX_READY || st.Metadata.GetName() != "a" ||
		st.CreatedAt == 0 || st.Labels["pod"] != "a" || st.Network.GetIp() != "10.88.0.2" {
		t.Errorf("status = %v", st)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(resp.Info["info"]), &info); err != nil || info["stateDir"] == "" {
		t.Errorf("info = %v (%v)", resp.Info, err)
	}
	_, err = e.runtime.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("missing: %v", err)
	}
}
