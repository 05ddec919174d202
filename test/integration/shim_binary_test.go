package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
)

// copyExecutable copies src to dir and returns the copy's path.
func copyExecutable(t *testing.T, src, dir string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A cricketd without cricket-shim next to it refuses to start, saying what
// is missing and how to fix it.
func TestShimBinaryMissing(t *testing.T) {
	testutil.RequireRoot(t)
	lone := copyExecutable(t, cricketdBin, t.TempDir())
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lone, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"),
		"--listen", filepath.Join(dir, "cricket.sock"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("cricketd without its shim: %v, want exit status 2\n%s", err, &out)
	}
	want := filepath.Join(filepath.Dir(lone), "cricket-shim")
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "--shim-binary") {
		t.Errorf("error does not name %s and --shim-binary:\n%s", want, &out)
	}
}

// --shim-binary picks the shim; the pod's shim process and pod init run
// that binary, and the container the shim started runs.
func TestShimBinaryFlag(t *testing.T) {
	testutil.RequireRoot(t)
	shimBin := copyExecutable(t, filepath.Join(filepath.Dir(cricketdBin), "cricket-shim"), t.TempDir())
	m := sharedMirror(t)
	d := newDaemon(t)
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	d.Start("--registry-config-path", certs, "--shim-binary", shimBin)
	t.Cleanup(func() { removeAllPods(t, d) })
	rt := d.Runtime()
	ctx := context.Background()
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: podImage}}); err != nil {
		t.Fatal(err)
	}
	pod := testPod(t, "shim-flag", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	ctrID := startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))
	if st := containerStatus(t, rt, ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container is %s, want running", st.State)
	}
	pid := shimPid(t, podID)
	exe, err := os.Readlink(filepath.Join("/proc", pid, "exe"))
	if err != nil {
		t.Fatal(err)
	}
	if exe != shimBin {
		t.Errorf("shim of pod %s runs %s, want %s", podID, exe, shimBin)
	}

	// A pod that shares its pid namespace gets a pod init: the shim
	// binary serves that entry point too.
	shared := testPod(t, "shim-flag-pid", runtimeapi.NamespaceMode_POD)
	sharedID := runPod(t, rt, shared, "")
	startContainer(t, rt, sharedID, shared, testContainer("app", "sleep 1000"))
	initPid, err := os.ReadFile(filepath.Join(d.State, "pods", sharedID[:16], "ns", "pid.init"))
	if err != nil {
		t.Fatal(err)
	}
	exe, err = os.Readlink(filepath.Join("/proc", strings.TrimSpace(string(initPid)), "exe"))
	if err != nil {
		t.Fatal(err)
	}
	if exe != shimBin {
		t.Errorf("pod init of pod %s runs %s, want %s", sharedID, exe, shimBin)
	}
}

// shimPid finds the pid of the shim serving podID by its command line.
func shimPid(t *testing.T, podID string) string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 1 && args[1] == "__shim" && strings.Contains(string(cmdline), podID) {
			return filepath.Base(filepath.Dir(p))
		}
	}
	t.Fatalf("no shim process for pod %s", podID)
	return ""
}
