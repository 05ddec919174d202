package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// forwardedPort matches crictl's "Forwarding from 127.0.0.1:PORT -> 80".
var forwardedPort = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)

func TestStreamPortForwardCrictl(t *testing.T) {
	d := startPodDaemon(t)
	// busybox httpd on the pod's localhost only: reachable through the
	// pod's network namespace, not from the host.
	podID, ctrID := streamPod(t, d, "pf", testContainer("httpd",
		`mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www`))
	waitServing(t, d.Runtime(), ctrID, 8080)
	for _, transport := range []string{"spdy", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			local, stop := portForward(t, d, podID, "8080", transport)
			defer stop()
			for i := range 3 {
				if got := httpGet(t, local); got != "hello-from-pod" {
					t.Fatalf("request %d through the forward = %q", i, got)
				}
			}
		})
	}
	t.Run("closed port ends only its stream", func(t *testing.T) {
		local, stop := portForward(t, d, podID, "8081", "spdy")
		defer stop()
		c := &http.Client{Timeout: 10 * time.Second}
		if resp, err := c.Get("http://" + local + "/"); err == nil {
			resp.Body.Close()
			t.Fatalf("a port nothing listens on answered %s", resp.Status)
		}
		// The daemon still forwards the open port.
		local2, stop2 := portForward(t, d, podID, "8080", "spdy")
		defer stop2()
		if got := httpGet(t, local2); got != "hello-from-pod" {
			t.Fatalf("after a failed forward: %q", got)
		}
	})
}

func TestStreamPortForwardHostNetwork(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	pod := testPod(t, "pfhost", runtimeapi.NamespaceMode_CONTAINER)
	pod.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	podID := runPod(t, rt, pod, "")
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	// A port the kernel says is free: a random one from 20000-39999 could
	// be in use on the host (its ephemeral range starts at 32768), and
	// httpd then exited at once (CI, port 37502).
	port := testutil.FreePort(t)
	id := startContainer(t, rt, podID, pod, testContainer("httpd",
		fmt.Sprintf(`mkdir -p /www && echo hello-from-host-pod > /www/index.html && exec httpd -f -p 127.0.0.1:%d -h /www`, port)))
	waitServing(t, rt, id, port)
	local, stop := portForward(t, d, podID, fmt.Sprint(port), "spdy")
	defer stop()
	if got := httpGet(t, local); got != "hello-from-host-pod" {
		t.Fatalf("through the forward = %q", got)
	}
}

// portForward runs `crictl port-forward POD 0:REMOTE` and returns the local
// address it listens on and a function that stops it.
func portForward(t *testing.T, d *harness.Daemon, podID, remote, transport string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "crictl", "--runtime-endpoint", "unix://"+d.Socket,
		"port-forward", "--transport", transport, podID, "0:"+remote)
	cmd.Env = append(cmd.Environ(), "CRI_CONFIG_FILE=/dev/null")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	stop := func() {
		cancel()
		_ = cmd.Wait()
		_ = pw.Close()
	}
	found := make(chan string, 1)
	go func() {
		defer close(found)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := forwardedPort.FindStringSubmatch(sc.Text()); m != nil {
				found <- "127.0.0.1:" + m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			stop()
			t.Fatal("crictl port-forward exited without forwarding")
		}
		return addr, stop
	case <-time.After(30 * time.Second):
		stop()
		t.Fatal("crictl port-forward did not start")
	}
	return "", stop
}

// waitServing waits until the container's HTTP server answers on its
// loopback port: a forward dialled before the server listens is refused.
func waitServing(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string, port int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	testutil.Eventually(t, "the server in container "+id+" on "+url, 10*time.Second, func() error {
		resp, err := rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"wget", "-q", "-O", "/dev/null", url}, Timeout: 5})
		if err != nil {
			return err
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("wget: exit %d, stderr %q", resp.ExitCode, resp.Stderr)
		}
		return nil
	})
}

func httpGet(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET through %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(body))
}
