package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
)

// TestPodLifecycleCrictl drives one pod and container through crictl for
// each runtime handler: runp, create, start, logs, exec, stop, rm, stopp,
// rmp, and checks that nothing is left behind.
func TestPodLifecycleCrictl(t *testing.T) {
	d := startPodDaemon(t)
	cases := []struct {
		desc    string
		handler string
	}{
		{desc: "built-in executor", handler: ""},
		{desc: "runc CLI", handler: "runc"},
		{desc: "crun CLI", handler: "crun"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if why := handlerAvailable(tc.handler); why != "" {
				t.Skip(why)
			}
			dir := t.TempDir()
			pod := testPod(t, "crictl", runtimeapi.NamespaceMode_CONTAINER)
			podFile := writeJSON(t, dir, "pod.json", pod)
			ctrFile := writeJSON(t, dir, "ctr.json", testContainer("app",
				`echo hello; echo "pid $$"; hostname; trap "exit 3" TERM; while true; do sleep 0.1; done`))
			crictl := func(args ...string) string {
				t.Helper()
				out, err := d.Crictl(args...)
				if err != nil {
					t.Fatalf("crictl %v: %v\n%s", args, err, out)
				}
				return lastLine(out)
			}
			runp := []string{"runp", podFile}
			if tc.handler != "" {
				runp = []string{"runp", "--runtime", tc.handler, podFile}
			}
			podID := crictl(runp...)
			inits := podInits(d)
			ctrID := crictl("create", podID, ctrFile, podFile)
			crictl("start", ctrID)
			logPath := filepath.Join(pod.LogDirectory, "app.log")
			testutil.Eventually(t, "container output", 10*time.Second, func() error { return logContains(t, logPath, "crictl-host") })
			if got := logMessages(t, logPath); !strings.Contains(got, "hello\npid 1\ncrictl-host") {
				t.Errorf("log = %q, want hello, pid 1 and the pod's hostname", got)
			}
			out, err := d.Crictl("logs", ctrID)
			if err != nil || !strings.Contains(out, "hello") {
				t.Errorf("crictl logs: %v\n%s", err, out)
			}
			if got := crictl("exec", "-s", ctrID, "sh", "-c", "hostname; test -x /bin/busybox && echo image-files"); got != "image-files" {
				t.Errorf("exec = %q", got)
			}
			crictl("stop", "--timeout", "10", ctrID)
			st := containerStatus(t, d.Runtime(), ctrID)
			if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 3 || st.Reason != "Error" || st.FinishedAt == 0 {
				t.Errorf("status after stop = %v", st)
			}
			crictl("rm", ctrID)
			crictl("stopp", podID)
			crictl("rmp", podID)
			if l := leaks(t, d, []string{podID}, inits); len(l) > 0 {
				t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// TestContainerStatusAndExec checks what the CRI reports about a container
// and ExecSync's edge cases.
func TestContainerStatusAndExec(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "status", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	t.Cleanup(func() { _, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}) })
	id := startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))

	st := containerStatus(t, rt, id)
	if st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.CreatedAt == 0 || st.StartedAt == 0 ||
		st.LogPath != filepath.Join(pod.LogDirectory, "app.log") || st.ImageRef == "" || st.GetUser().GetLinux() == nil {
		t.Errorf("status = %v", st)
	}
	cases := []struct {
		desc     string
		cmd      []string
		timeout  int64
		wantCode codes.Code
		wantExit int32
		wantOut  string
	}{
		{desc: "output and exit code", cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 4"}, wantExit: 4, wantOut: "out\n"},
		{desc: "timeout kills the command", cmd: []string{"sleep", "30"}, timeout: 1, wantCode: codes.DeadlineExceeded},
		{desc: "missing command fails fast", cmd: []string{"no-such-command"}, wantCode: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			start := time.Now()
			resp, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: tc.cmd, Timeout: tc.timeout})
			if status.Code(err) != tc.wantCode {
				t.Fatalf("code = %v, want %v (%v)", status.Code(err), tc.wantCode, err)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if err == nil && (resp.ExitCode != tc.wantExit || string(resp.Stdout) != tc.wantOut) {
				t.Errorf("resp = %v", resp)
			}
		})
	}
}

// TestReopenContainerLog rotates a container's log like the kubelet does.
func TestReopenContainerLog(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "logs", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	t.Cleanup(func() { _, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}) })
	id := startContainer(t, rt, podID, pod, testContainer("ticker", "while true; do echo tick; sleep 0.1; done"))
	logPath := filepath.Join(pod.LogDirectory, "ticker.log")
	testutil.Eventually(t, "first tick", 10*time.Second, func() error { return logContains(t, logPath, "tick") })
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "tick in the new log", 10*time.Second, func() error { return logContains(t, logPath, "tick") })
}

// TestRunPodSandboxUnknownHandler: a RuntimeClass naming a handler that is
// not configured is NotFound, and leaves nothing behind.
func TestRunPodSandboxUnknownHandler(t *testing.T) {
	d := startPodDaemon(t)
	_, err := d.Runtime().RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{
		Config: testPod(t, "nohandler", runtimeapi.NamespaceMode_CONTAINER), RuntimeHandler: "no-such-handler",
	})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("err = %v, want NotFound", err)
	}
	if l := leaks(t, d, nil, nil); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}
