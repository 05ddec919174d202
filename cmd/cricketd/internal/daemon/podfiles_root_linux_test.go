package daemon

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/test/testutil"
)

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
