package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
)

// stopBound is how long StopContainer may take for a container whose main
// process exits at once on SIGTERM. It is a correctness bound, not a
// performance figure: the exit used to wait the 2 s the shim gives an
// orphan's copy of stdout to close.
const stopBound = 1500 * time.Millisecond

// TestStopKillsOrphansWithoutOwnPidNamespace (issue 20): a container that
// shares the pod's pid namespace (or the host's) and whose main process
// leaves a background child must leave no process behind once stopped,
// since the kernel kills the rest of a pid namespace only when its init
// dies, and the container's main process is not that init. The background
// sleep used to run on, reparented to the pod init (or the shim), in the
// stopped container's cgroup, until RemoveContainer; and StopContainer
// waited 2 s for the sleep's copy of stdout. Every handler, pid POD and
// NODE.
func TestStopKillsOrphansWithoutOwnPidNamespace(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	for _, handler := range []string{"", "runc", "crun"} {
		for _, mode := range []runtimeapi.NamespaceMode{runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_NODE} {
			t.Run(fmt.Sprintf("handler=%q/pid=%v", handler, mode), func(t *testing.T) {
				if why := handlerAvailable(handler); why != "" {
					t.Skip(why)
				}
				pod := testPod(t, "orphans-"+strings.ToLower(mode.String()), mode)
				podID := runPod(t, rt, pod, handler)
				t.Cleanup(func() { _, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}) })
				init := podInitOf(t, d.State, podID, mode)
				id := startContainer(t, rt, podID, pod, testContainer("app",
					`trap 'exit 0' TERM; sleep 3600 & echo started; wait`))
				testutil.Eventually(t, "the main process and its background sleep", 10*time.Second, func() error {
					if procs := cgroupProcs(id); len(procs) < 2 {
						return fmt.Errorf("processes in the container's cgroup: %v", procs)
					}
					return nil
				})
				start := time.Now()
				if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
					t.Fatalf("StopContainer: %v", err)
				}
				took := time.Since(start)
				t.Logf("StopContainer took %v", took)
				st := containerStatus(t, rt, id)
				if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 0 {
					t.Errorf("status after stop: state %v, exit code %d (want the main process's 0)", st.State, st.ExitCode)
				}
				if took > stopBound {
					t.Errorf("StopContainer took %v for a main process that exits on SIGTERM (bound %v)", took, stopBound)
				}
				// The container is stopped, not removed: nothing of it may run.
				if procs := cgroupProcs(id); len(procs) > 0 {
					t.Errorf("processes left in the stopped container's cgroup: %v", procs)
				}
				if init != "" {
					if procs := pidNamespaceProcs(t, init); len(procs) > 0 {
						t.Errorf("processes left in the pod's pid namespace besides its init: %v", procs)
					}
				}
			})
		}
	}
}

// podInitOf returns the pid of the init holding a pod's shared pid
// namespace, or "" when the pod has none (pid NODE).
func podInitOf(t *testing.T, state, podID string, mode runtimeapi.NamespaceMode) string {
	t.Helper()
	if mode != runtimeapi.NamespaceMode_POD {
		return ""
	}
	files, _ := filepath.Glob(filepath.Join(state, "pods", "*", "ns", "pid.init"))
	for _, f := range files {
		if !strings.HasPrefix(podID, filepath.Base(filepath.Dir(filepath.Dir(f)))) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	t.Fatalf("no pod init for pod %s", podID)
	return ""
}

// cgroupProcs lists the live processes whose cgroup is the container's.
func cgroupProcs(ctrID string) []string {
	var out []string
	files, _ := os.ReadDir("/proc")
	for _, f := range files {
		raw, err := os.ReadFile("/proc/" + f.Name() + "/cgroup")
		if err != nil || !strings.Contains(string(raw), "/"+ctrID+"\n") {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(f.Name(), "%d", &pid); err == nil && alive(pid) {
			out = append(out, describeProc(f.Name()))
		}
	}
	return out
}

// pidNamespaceProcs lists the live processes in the pid namespace of the
// pod init initPid, except the init itself.
func pidNamespaceProcs(t *testing.T, initPid string) []string {
	t.Helper()
	ns, err := os.Readlink("/proc/" + initPid + "/ns/pid")
	if err != nil {
		t.Fatalf("pod init %s: %v", initPid, err)
	}
	var out []string
	files, _ := os.ReadDir("/proc")
	for _, f := range files {
		if f.Name() == initPid {
			continue
		}
		other, err := os.Readlink("/proc/" + f.Name() + "/ns/pid")
		var pid int
		if err != nil || other != ns {
			continue
		}
		if _, err := fmt.Sscanf(f.Name(), "%d", &pid); err == nil && alive(pid) {
			out = append(out, describeProc(f.Name()))
		}
	}
	return out
}

func describeProc(pid string) string {
	cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
	return pid + " (" + strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")) + ")"
}
