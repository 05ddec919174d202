package integration

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestRestartKeepsPodsRunning kills cricketd with SIGKILL while 10 pods run
// and starts it again: every container still runs and is listed as before,
// stopping one reports its true exit code, and removing everything leaves
// nothing behind.
func TestRestartKeepsPodsRunning(t *testing.T) {
	const pods = 10
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	var podIDs, ctrIDs []string
	for i := 0; i < pods; i++ {
		// Half the pods share a pid namespace, held by a pod init that
		// must survive the daemon too.
		pidMode := runtimeapi.NamespaceMode_CONTAINER
		if i%2 == 1 {
			pidMode = runtimeapi.NamespaceMode_POD
		}
		pod := testPod(t, fmt.Sprintf("restart-%d", i), pidMode)
		t0 := time.Now()
		id := runPod(t, rt, pod, "")
		podIDs = append(podIDs, id)
		// One fork a second: a loop of "sleep 0.1" (ten forks and execs a
		// second in each of the 10 containers) alone took more CPU than a
		// TCG VM's two vCPUs have, and each new pod started slower than
		// the last until StartContainer overran its bound.
		ctrIDs = append(ctrIDs, startContainer(t, rt, id, pod, testContainer("app",
			`trap "exit 7" TERM; while true; do sleep 1; done`)))
		t.Logf("pod %d: running with its container after %s", i, time.Since(t0).Round(time.Millisecond))
	}
	before := listStates(t, rt)
	inits := podInits(d)

	if !d.Signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatal("cricketd survived SIGKILL")
	}
	d.Start("--registry-config-path", d.Dir+"/certs.d")
	t.Cleanup(func() { removeAllPods(t, d) }) // before this daemon's stop
	rt = d.Runtime()
	after := listStates(t, rt)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("states after restart:\n%v\nbefore:\n%v", after, before)
	}
	for _, id := range ctrIDs {
		if st := containerStatus(t, rt, id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("container %s is %v after restart", id, st.State)
		}
	}
	if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ctrIDs[0], Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	if st := containerStatus(t, rt, ctrIDs[0]); st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 7 {
		t.Errorf("stopped after restart: state %v exit %d, want EXITED 7", st.State, st.ExitCode)
	}
	for _, id := range podIDs {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("stop pod %s: %v", id, err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("remove pod %s: %v", id, err)
		}
	}
	if l := leaks(t, d, podIDs, inits); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}

// listStates returns "id state" lines for every pod and container.
func listStates(t *testing.T, rt runtimeapi.RuntimeServiceClient) []string {
	t.Helper()
	ctx := context.Background()
	pods, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Id+" "+p.State.String())
	}
	for _, c := range ctrs.Containers {
		out = append(out, c.Id+" "+c.State.String())
	}
	return out
}
