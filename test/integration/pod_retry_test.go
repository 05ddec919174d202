package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// TestCreateContainerRetryAfterClientTimeout is the kubelet's retry of a
// CreateContainer it gave up on: whatever the first request reached, the
// retry with the same name succeeds, the pod holds exactly one container
// of that name, and it starts.
func TestCreateContainerRetryAfterClientTimeout(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	pod := testPod(t, "ctr-retry", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	for _, timeout := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			cfg := testContainer(fmt.Sprintf("c-%d", timeout.Milliseconds()), "sleep 1000")
			req := &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			resp, err := rt.CreateContainer(ctx, req)
			cancel()
			if err != nil {
				first := err
				if resp, err = rt.CreateContainer(context.Background(), req); err != nil {
					t.Fatalf("retry after %v (first: %v): %v", timeout, first, err)
				}
			}
			list, err := rt.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
			if err != nil {
				t.Fatal(err)
			}
			var same []string
			for _, c := range list.Containers {
				if c.Metadata.Name == cfg.Metadata.Name {
					same = append(same, c.Id)
				}
			}
			if len(same) != 1 || same[0] != resp.ContainerId {
				t.Errorf("containers named %s after retry = %v, want only %s", cfg.Metadata.Name, same, resp.ContainerId)
			}
			if _, err := rt.StartContainer(context.Background(), &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
				t.Errorf("start the container the retry got: %v", err)
			}
		})
	}
}

// TestRunPodSandboxRetryWhileFirstRuns retries at once, while the first
// RunPodSandbox still works: the retry waits for it and answers with its
// pod rather than "name is reserved". Once a pod was answered, a request
// for its name is AlreadyExists naming the pod, so that the kubelet can
// find it by listing.
func TestRunPodSandboxRetryWhileFirstRuns(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	pod := testPod(t, "retry-concurrent", runtimeapi.NamespaceMode_POD)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
		first <- err
	}()
	// Give up on the first request as soon as the daemon has it.
	time.Sleep(2 * time.Millisecond)
	cancel()
	firstErr := <-first
	resp, err := rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: pod})
	if err != nil {
		t.Fatalf("retry: %v (first: %v)", err, firstErr)
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
	_, err = rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: pod})
	if status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), resp.PodSandboxId) {
		t.Errorf("request for the name of an answered pod: %v, want AlreadyExists naming %s", err, resp.PodSandboxId)
	}
}
