package integration

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// streamPod runs a pod with one container running script and returns the
// pod and container ids; the test skips while the daemon has no streaming
// server.
func streamPod(t *testing.T, d *harness.Daemon, name string, cfg *runtimeapi.ContainerConfig) (podID, ctrID string) {
	t.Helper()
	rt := d.Runtime()
	pod := testPod(t, name, runtimeapi.NamespaceMode_CONTAINER)
	podID = runPod(t, rt, pod, "")
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	ctrID = startContainer(t, rt, podID, pod, cfg)
	return podID, ctrID
}

// crictlStream runs crictl against d with stdin and a deadline and returns
// its output and exit code.
func crictlStream(t *testing.T, d *harness.Daemon, stdin string, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"--runtime-endpoint", "unix://" + d.Socket, "--image-endpoint", "unix://" + d.Socket, "--timeout", "30s"}, args...)
	cmd := exec.CommandContext(ctx, "crictl", full...)
	cmd.Env = append(cmd.Environ(), "CRI_CONFIG_FILE=/dev/null")
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("crictl %v did not end within %v:\n%s", args, timeout, out.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("crictl %v: %v", args, err)
	}
	return out.String(), code
}

func TestStreamExecCrictl(t *testing.T) {
	d := startPodDaemon(t)
	_, id := streamPod(t, d, "exec", testContainer("app", "sleep 1000"))
	for _, transport := range []string{"spdy", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			// stdin reaches the command and is closed at its end; the exit
			// code comes back.
			out, code := crictlStream(t, d, "from stdin\n", time.Minute,
				"exec", "-i", "--transport", transport, id, "sh", "-c", "cat; echo err >&2; exit 3")
			if !strings.Contains(out, "from stdin") || !strings.Contains(out, "err") || code == 0 {
				t.Errorf("exec -i: exit %d, output %q", code, out)
			}
			out, code = crictlStream(t, d, "", time.Minute, "exec", "--transport", transport, id, "echo", "hi")
			if code != 0 || lastLine(out) != "hi" {
				t.Errorf("exec: exit %d, output %q", code, out)
			}
		})
	}

	// A terminal, as `crictl exec -it` from a person's shell: script(1)
	// gives crictl a tty of its own.
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmdline := "stty cols 91 rows 33; crictl --runtime-endpoint unix://" + d.Socket + " exec -it " + id + " sh -c 'tty; stty size; exit 5'"
	script := exec.CommandContext(ctx, "script", "-qec", cmdline, "/dev/null")
	script.Env = append(script.Environ(), "CRI_CONFIG_FILE=/dev/null")
	out, _ := script.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("crictl exec -it did not end: %q", out)
	}
	if !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "33 91") {
		t.Errorf("crictl exec -it output %q, want a pty of the client's size", out)
	}

	// A missing binary fails at once, with the reason.
	begin := time.Now()
	out2, code := crictlStream(t, d, "", time.Minute, "exec", id, "no-such-binary")
	if code == 0 || !strings.Contains(out2, "no-such-binary") || time.Since(begin) > 10*time.Second {
		t.Errorf("exec of a missing binary: exit %d after %v, output %q", code, time.Since(begin), out2)
	}
	// The container is unharmed by all of it.
	if st := containerStatus(t, d.Runtime(), id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container state %v after the execs", st.State)
	}
}

// TestStreamExecHungClient leaves an exec session's client stuck and checks
// that other sessions and the container go on.
func TestStreamExecHungClient(t *testing.T) {
	d := startPodDaemon(t)
	_, id := streamPod(t, d, "hung", testContainer("app", "sleep 1000"))
	// A client that never reads: crictl stopped with SIGSTOP mid-stream.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck := exec.CommandContext(ctx, "crictl", "--runtime-endpoint", "unix://"+d.Socket, "exec", id, "yes")
	stuck.Env = append(stuck.Environ(), "CRI_CONFIG_FILE=/dev/null")
	pr, err := stuck.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := stuck.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stuck.Process.Kill(); _ = stuck.Wait() }()
	buf := make([]byte, 1)
	if _, err := pr.Read(buf); err != nil {
		t.Fatalf("no output from the stuck session: %v", err)
	}
	// pr is never read again: crictl blocks on its stdout, and so does its
	// stream, the daemon's copy and `yes` itself.
	for i := range 3 {
		out, code := crictlStream(t, d, "", 30*time.Second, "exec", id, "echo", "still here")
		if code != 0 || lastLine(out) != "still here" {
			t.Fatalf("exec %d beside a stuck session: exit %d, %q", i, code, out)
		}
	}
	if got := execSync(t, d.Runtime(), id, "echo", "sync"); got != "sync" {
		t.Errorf("ExecSync beside a stuck session = %q", got)
	}
}
