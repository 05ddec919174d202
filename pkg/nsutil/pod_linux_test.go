package nsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
