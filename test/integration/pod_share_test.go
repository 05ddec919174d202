package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
)

// TestContainersOfAPodShareNamespaces runs two containers in one pod that
// shares its pid namespace: they see one IPC namespace and /dev/shm, one
// network namespace (they talk over localhost), one hostname and each
// other's processes.
func TestContainersOfAPodShareNamespaces(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "shared", runtimeapi.NamespaceMode_POD)
	podID := runPod(t, rt, pod, "")
	t.Cleanup(func() { _, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}) })
	srv := startContainer(t, rt, podID, pod, testContainer("server",
		"echo marker > /dev/shm/from-server; while true; do echo pong | nc -l -p 8080; done"))
	cli := startContainer(t, rt, podID, pod, testContainer("client", "sleep 1000"))

	for _, ns := range []string{"ipc", "net", "uts", "pid"} {
		a := execSync(t, rt, srv, "readlink", "/proc/self/ns/"+ns)
		b := execSync(t, rt, cli, "readlink", "/proc/self/ns/"+ns)
		if a != b || a == "" {
			t.Errorf("%s namespaces differ: %q vs %q", ns, a, b)
		}
	}
	testutil.Eventually(t, "server's shm file", 10*time.Second, func() error {
		resp, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cli, Cmd: []string{"cat", "/dev/shm/from-server"}, Timeout: 5})
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(resp.Stdout)); got != "marker" {
			return fmt.Errorf("cat printed %q, stderr %q", got, resp.Stderr)
		}
		return nil
	})
	if got := execSync(t, rt, cli, "sh", "-c", "echo ping | nc 127.0.0.1 8080"); got != "pong" {
		t.Errorf("localhost answer = %q", got)
	}
	if got := execSync(t, rt, cli, "hostname"); got != "shared-host" {
		t.Errorf("hostname = %q", got)
	}
	if ps := execSync(t, rt, cli, "ps"); !strings.Contains(ps, "nc -l -p 8080") {
		t.Errorf("client cannot see the server's processes:\n%s", ps)
	}
}
