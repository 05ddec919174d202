package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// TestShimKilledContainerIsReaped kills a pod's shim with SIGKILL while
// its container runs (found by test/fault): the container process used to
// run on, reported exited, and its cgroup kept the pod's busy so that
// RemovePodSandbox failed forever. Now the container must be reported
// exited and really be gone, both when the daemon notices the shim's death
// while it runs and when it finds out at a restart, and removing the pod
// must leave nothing behind. The pod must be reported not ready.
func TestShimKilledContainerIsReaped(t *testing.T) {
	d := startPodDaemon(t)
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			rt := d.Runtime()
			pod := testPod(t, fmt.Sprintf("shimkill-%v", restart), runtimeapi.NamespaceMode_CONTAINER)
			podID := runPod(t, rt, pod, "")
			ctrID := startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))
			pid := containerPid(t, d, podID)
			inits := podInits(d)
			if restart {
				if !d.Signal(syscall.SIGKILL, 10*time.Second) {
					t.Fatal("cricketd survived SIGKILL")
				}
			}
			killShim(t, d, podID)
			if restart {
				d.Start("--registry-config-path", d.Dir+"/certs.d")
				rt = d.Runtime()
			}
			testutil.Eventually(t, "the container to be reported exited", 10*time.Second, func() error {
				return stateIs(containerStatus(t, rt, ctrID).State, runtimeapi.ContainerState_CONTAINER_EXITED)
			})
			if st := containerStatus(t, rt, ctrID); st.Reason == "" || st.FinishedAt == 0 {
				t.Errorf("exited without reason or finish time: %+v", st)
			}
			testutil.Eventually(t, fmt.Sprintf("container process %d to be gone", pid), 10*time.Second, func() error { return gone(pid) })
			// A pod without its shim can run nothing more: the kubelet
			// must see it not ready, and replace it.
			testutil.Eventually(t, "the pod to be reported not ready", 10*time.Second, func() error {
				resp, err := rt.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
				if err != nil {
					return err
				}
				return stateIs(resp.Status.State, runtimeapi.PodSandboxState_SANDBOX_NOTREADY)
			})
			ctx := context.Background()
			if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
				t.Fatalf("StopPodSandbox: %v", err)
			}
			if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
				t.Fatalf("RemovePodSandbox: %v", err)
			}
			if l := leaks(t, d, []string{podID}, inits); len(l) > 0 {
				t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
			}
		})
	}
}

// containerPid finds the process of the pod's only container: the one
// process in a container cgroup under the pod's cgroup.
func containerPid(t *testing.T, d *harness.Daemon, podID string) int {
	t.Helper()
	var pid int
	testutil.Eventually(t, "the container's process", 10*time.Second, func() error {
		files, _ := os.ReadDir("/proc")
		for _, f := range files {
			raw, err := os.ReadFile("/proc/" + f.Name() + "/cgroup")
			if err != nil || !strings.Contains(string(raw), "/pod-"+podID+"/") {
				continue
			}
			if _, err := fmt.Sscanf(f.Name(), "%d", &pid); err == nil {
				return nil
			}
		}
		return fmt.Errorf("no process in a cgroup of pod %s", podID)
	})
	return pid
}

// killShim SIGKILLs the shim of the pod and waits for it to be gone.
func killShim(t *testing.T, d *harness.Daemon, podID string) {
	t.Helper()
	files, _ := os.ReadDir("/proc")
	for _, f := range files {
		cmdline, err := os.ReadFile("/proc/" + f.Name() + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if err != nil || len(args) < 2 || args[1] != "__shim" || !strings.Contains(string(cmdline), podID) {
			continue
		}
		var pid int
		fmt.Sscanf(f.Name(), "%d", &pid)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "the shim to die", 10*time.Second, func() error { return gone(pid) })
		return
	}
	t.Fatalf("no shim process for pod %s", podID)
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// gone is nil once pid no longer runs.
func gone(pid int) error {
	if alive(pid) {
		return fmt.Errorf("pid %d still runs", pid)
	}
	return nil
}
