package nsutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/podinit"
	"github.com/cricket-cri/cricket/test/testutil"
)

// TestPinPodAndUnpin pins a pod's namespaces, including a pid
// namespace held by the pod init (this test binary re-executed with
// podinit.Arg), and checks that UnpinPod leaves nothing.
func TestPinPodAndUnpin(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	nsDir := filepath.Join(dir, "ns")
	ns, err := PinPod(nsDir, PodOptions{Network: true, IPC: true, UTS: true, PID: true, Hostname: "pinned"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ns[Net], ns[IPC], ns[UTS], ns[PID]} {
		if !IsPinned(p) {
			t.Errorf("%s is not pinned", p)
		}
	}
	pidData, err := os.ReadFile(filepath.Join(nsDir, podinit.PIDFile))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(pidData))
	if cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline"); !strings.Contains(string(cmdline), podinit.Arg) {
		t.Fatalf("pod init %s is not running: %q", pid, cmdline)
	}
	if err := UnpinPod(nsDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ns")); !os.IsNotExist(err) {
		t.Errorf("namespace dir left: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), podinit.Arg) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod init %s still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := UnpinPod(nsDir); err != nil {
		t.Errorf("second unpin: %v", err)
	}
}

// TestPinPodIPCAfterUser: with IPCAfterUser, a user-namespace pod's IPC
// namespace is made by the namespace's root after the namespace is set up
// (so that its mqueue belongs to that root, which runc's SELinux labelling
// of /dev/mqueue needs): it is a new one, owned by the pod's user
// namespace, for a pod with a pid namespace and for one without (whose
// init is transient).
func TestPinPodIPCAfterUser(t *testing.T) {
	testutil.RequireRoot(t)
	ids := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 430000, Size: 65536}}
	for _, pid := range []bool{true, false} {
		nsDir := filepath.Join(t.TempDir(), "ns")
		ns, err := PinPod(nsDir, PodOptions{Network: true, IPC: true, UTS: true, PID: pid, UIDMappings: ids, GIDMappings: ids, IPCAfterUser: true})
		if err != nil {
			t.Fatalf("pid %v: %v", pid, err)
		}
		t.Cleanup(func() { _ = UnpinPod(nsDir) })
		var self, pinned unix.Stat_t
		if err := unix.Stat("/proc/self/ns/ipc", &self); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(ns[IPC], &pinned); err != nil {
			t.Fatal(err)
		}
		if self.Ino == pinned.Ino {
			t.Fatalf("pid %v: the pod's IPC namespace is the host's", pid)
		}
		f, err := os.Open(ns[IPC])
		if err != nil {
			t.Fatal(err)
		}
		owner, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_USERNS)
		f.Close()
		if err != nil {
			t.Fatalf("NS_GET_USERNS: %v", err)
		}
		var o, user unix.Stat_t
		err = unix.Fstat(owner, &o)
		unix.Close(owner)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(ns[User], &user); err != nil {
			t.Fatal(err)
		}
		if o.Ino != user.Ino {
			t.Errorf("pid %v: the IPC namespace is owned by user namespace %d, not the pod's %d", pid, o.Ino, user.Ino)
		}
		// What runc needs: the namespace's mqueue belongs to its root (it
		// shows as 0, not as the overflow uid, in the namespace).
		if _, err := exec.LookPath("nsenter"); err != nil {
			t.Skip("no nsenter (util-linux) to look at the mqueue")
		}
		out, err := exec.Command("nsenter", "--user="+ns[User], "--ipc="+ns[IPC], "unshare", "--mount", "--propagation", "private",
			"sh", "-c", "d=$(mktemp -d) && mount -t mqueue mqueue $d && stat -c %u $d").CombinedOutput()
		if err != nil {
			t.Fatalf("pid %v: mount the pod's mqueue: %v: %s", pid, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "0" {
			t.Errorf("pid %v: the pod's mqueue belongs to uid %s in its user namespace, want 0 (its root)", pid, got)
		}
	}
}
