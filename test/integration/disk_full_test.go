package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// startTmpfsDaemon starts a daemon whose root and state live on a tmpfs
// of size bytes of the test's own (its socket stays outside), pulls
// podImage, and removes every pod before the daemon stops.
func startTmpfsDaemon(t *testing.T, size string) (*harness.Daemon, string) {
	t.Helper()
	m := sharedMirror(t)
	d := newDaemon(t)
	fs := filepath.Join(d.Dir, "fs")
	if err := os.MkdirAll(fs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", fs, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", fs, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(fs, unix.MNT_DETACH) })
	d.Root, d.State = filepath.Join(fs, "root"), filepath.Join(fs, "state")
	d.Socket = filepath.Join(d.Dir, "cricket.sock")
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	d.Start("--registry-config-path", certs)
	t.Cleanup(func() { removeAllPods(t, d) })
	pullPodImage(t, d)
	return d, fs
}

// fill writes a file on fs until the filesystem is full and returns its
// path.
func fill(t *testing.T, fs string) string {
	t.Helper()
	path := filepath.Join(fs, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", fs, err)
				}
				break
			}
		}
	}
	return path
}

// wantCode checks that err has code and that its message names a path
// under dir and the cause.
func wantCode(t *testing.T, what string, err error, code codes.Code, dir, cause string) {
	t.Helper()
	t.Logf("%s: %v", what, err)
	if status.Code(err) != code || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), cause) {
		t.Errorf("%s: %v; want %v naming a path under %s and %q", what, err, code, dir, cause)
	}
}

// TestDiskFull fills the filesystem of root and state: new pods and
// containers fail with ResourceExhausted naming the path; what runs keeps
// running; a daemon killed and restarted while the disk is full reads every
// record back; once space is back everything works again.
func TestDiskFull(t *testing.T) {
	d, fs := startTmpfsDaemon(t, "96m")
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "before", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	ctrID := startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))

	filler := fill(t, fs)
	_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: testPod(t, "full", runtimeapi.NamespaceMode_CONTAINER)})
	wantCode(t, "RunPodSandbox on a full disk", err, codes.ResourceExhausted, fs, "no space left on device")
	_, err = rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: testContainer("full", "true"), SandboxConfig: pod})
	wantCode(t, "CreateContainer on a full disk", err, codes.ResourceExhausted, fs, "no space left on device")
	if st := containerStatus(t, rt, ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("running container is %v on a full disk", st.State)
	}
	if got := execSync(t, rt, ctrID, "echo", "alive"); got != "alive" {
		t.Errorf("exec on a full disk = %q", got)
	}

	// A crash while full: every record must read back.
	before := listStates(t, rt)
	if !d.Signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatal("cricketd survived SIGKILL")
	}
	d.Start("--registry-config-path", filepath.Join(d.Dir, "certs.d"))
	rt = d.Runtime()
	if after := listStates(t, rt); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("after a restart on a full disk:\n%v\nwant\n%v", after, before)
	}
	for _, bad := range []string{"skipping pod sandbox", "skipping container", "corrupt"} {
		if strings.Contains(d.RunLog(), bad) {
			t.Errorf("restart on a full disk logged %q:\n%s", bad, d.RunLog())
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	pod2 := testPod(t, "after", runtimeapi.NamespaceMode_CONTAINER)
	pod2ID := runPod(t, rt, pod2, "")
	ctr2 := startContainer(t, rt, pod2ID, pod2, testContainer("app", "sleep 1000"))
	if got := execSync(t, rt, ctr2, "echo", "back"); got != "back" {
		t.Errorf("exec once space is back = %q", got)
	}
	if st := containerStatus(t, rt, ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("first container is %v once space is back", st.State)
	}
	removeAllPods(t, d)
	if l := withoutMount(leaks(t, d, []string{podID, pod2ID}, nil), fs); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}

// TestReadOnlyStateDirs makes the record store and the pod state dir
// read-only (bind mounts remounted read-only: shims keep writing where
// they already have files open): new pods and containers fail with
// FailedPrecondition naming the path; existing ones run on; once writable
// again everything works.
func TestReadOnlyStateDirs(t *testing.T) {
	d, fs := startTmpfsDaemon(t, "96m")
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "before", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	ctrID := startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))

	readOnly := []string{filepath.Join(d.Root, "meta"), filepath.Join(d.State, "pods")}
	for _, dir := range readOnly {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			t.Fatalf("bind %s: %v", dir, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
		if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount %s read-only: %v", dir, err)
		}
	}
	_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: testPod(t, "ro", runtimeapi.NamespaceMode_CONTAINER)})
	wantCode(t, "RunPodSandbox on a read-only state dir", err, codes.FailedPrecondition, fs, "read-only file system")
	_, err = rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: testContainer("ro", "true"), SandboxConfig: pod})
	wantCode(t, "CreateContainer on a read-only record store", err, codes.FailedPrecondition, fs, "read-only file system")
	if got := execSync(t, rt, ctrID, "echo", "alive"); got != "alive" {
		t.Errorf("exec with read-only state dirs = %q", got)
	}

	for _, dir := range readOnly {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Fatalf("unmount %s: %v", dir, err)
		}
	}
	pod2 := testPod(t, "after", runtimeapi.NamespaceMode_CONTAINER)
	pod2ID := runPod(t, rt, pod2, "")
	ctr2 := startContainer(t, rt, pod2ID, pod2, testContainer("app", "sleep 1000"))
	if got := execSync(t, rt, ctr2, "echo", "back"); got != "back" {
		t.Errorf("exec once writable again = %q", got)
	}
	// Stopping the first container records its exit: the store writes again.
	if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ctrID, Timeout: 5}); err != nil {
		t.Fatal(err)
	}
	removeAllPods(t, d)
	if l := withoutMount(leaks(t, d, []string{podID, pod2ID}, nil), fs); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}

// withoutMount drops the test's own mount at mnt from a leak list.
func withoutMount(leaks []string, mnt string) []string {
	var out []string
	for _, l := range leaks {
		if f := strings.Fields(strings.TrimPrefix(l, "mount: ")); strings.HasPrefix(l, "mount: ") && len(f) > 4 && f[4] == mnt {
			continue
		}
		out = append(out, l)
	}
	return out
}
