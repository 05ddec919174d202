package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/nsutil"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/test/testutil"
)

// TestNamespacesPinAndUnpin pins a pod's namespaces, including a pid
// namespace held by the pod init (this test binary re-executed with
// PodInitArg), and checks that Unpin leaves nothing.
func TestNamespacesPinAndUnpin(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	n := namespaces{}
	ns, err := n.Pin(context.Background(), dir, sandbox.NamespaceSet{Network: true, IPC: true, UTS: true, PID: true, Hostname: "pinned"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ns.Network, ns.IPC, ns.UTS, ns.PID} {
		if !nsutil.IsPinned(p) {
			t.Errorf("%s is not pinned", p)
		}
	}
	pidData, err := os.ReadFile(filepath.Join(dir, "ns", podInitPidFile))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(pidData))
	if cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline"); !strings.Contains(string(cmdline), PodInitArg) {
		t.Fatalf("pod init %s is not running: %q", pid, cmdline)
	}
	if err := n.Unpin(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ns")); !os.IsNotExist(err) {
		t.Errorf("namespace dir left: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), PodInitArg) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod init %s still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := n.Unpin(context.Background(), dir); err != nil {
		t.Errorf("second unpin: %v", err)
	}
}

func TestPodFilesWriteAndRemove(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	cfg := podConfigWithHostname("web")
	f, err := podFiles{}.Write(context.Background(), dir, cfg, sandbox.NetworkStatus{IP: "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := os.ReadFile(f.Hosts)
	hostname, _ := os.ReadFile(f.Hostname)
	if !strings.Contains(string(hosts), "10.1.2.3") || strings.TrimSpace(string(hostname)) != "web" {
		t.Errorf("hosts %q hostname %q", hosts, hostname)
	}
	if f.Shm == hostShm || !isMounted(f.Shm) {
		t.Errorf("shm %s is not the pod's own tmpfs", f.Shm)
	}
	if err := (podFiles{}).Remove(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if isMounted(f.Shm) {
		t.Error("shm still mounted")
	}
	for _, p := range []string{f.Hostname, f.Hosts, f.ResolvConf} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
}

func isMounted(p string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(data), " "+p+" ")
}
