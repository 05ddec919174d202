package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestRunPodSandboxRetryAfterClientTimeout is the kubelet's retry after a
// RunPodSandbox it gave up on (containerd #12438): whatever state the first
// request reached, the retry with the same name must succeed, never "name
// is reserved", and leave exactly one pod.
func TestRunPodSandboxRetryAfterClientTimeout(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	for _, timeout := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			pod := testPod(t, fmt.Sprintf("retry-%d", timeout.Milliseconds()), runtimeapi.NamespaceMode_POD)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			resp, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
			cancel()
			if err != nil {
				// The kubelet gave up; it retries with the same config.
				first := err
				resp, err = rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: pod})
				if err != nil {
					t.Fatalf("retry after %v (first: %v): %v", timeout, first, err)
				}
			}
			list, err := rt.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{
				Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"test": t.Name()}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 1 || list.Items[0].Id != resp.PodSandboxId {
				t.Errorf("pods after retry = %v, want only %s", list.Items, resp.PodSandboxId)
			}
			inits := podInits(d)
			if _, err := rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: resp.PodSandboxId}); err != nil {
				t.Fatal(err)
			}
			if l := leaks(t, d, []string{resp.PodSandboxId}, inits); len(l) > 0 {
				t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
			}
		})
	}
}
