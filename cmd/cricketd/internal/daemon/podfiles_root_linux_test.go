package daemon

import (
	"context"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/test/testutil"
)

func TestPodFilesWriteAndRemove(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	cfg := podConfigWithHostname("web")
	f, err := podFiles{}.Write(context.Background(), dir, cfg, sandbox.NetworkStatus{IP: "10.1.2.3"}, nil, "")
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
	if f.PodOwned {
		t.Error("the files of a pod without a user namespace are marked as its root's")
	}
	for _, p := range []string{f.Hostname, f.Hosts, f.ResolvConf, f.Shm} {
		assertOwner(t, p, 0, 0)
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

// TestPodFilesOwnedByUsernsRoot: the files and the shm of a pod with a
// user namespace belong to the host ids of its root, so that containers
// bind them without an idmap (tmpfs takes none before Linux 6.3).
func TestPodFilesOwnedByUsernsRoot(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	ids := &oci.IDMappings{
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}},
	}
	f, err := podFiles{}.Write(context.Background(), dir, podConfigWithHostname("web"), sandbox.NetworkStatus{IP: "10.1.2.3"}, ids, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = podFiles{}.Remove(context.Background(), dir) })
	if !f.PodOwned {
		t.Error("the files are not marked as the pod root's")
	}
	if !isMounted(f.Shm) {
		t.Fatalf("shm %s is not mounted", f.Shm)
	}
	for _, p := range []string{f.Hostname, f.Hosts, f.ResolvConf, f.Shm} {
		assertOwner(t, p, 300000, 400000)
	}
	if fi, err := os.Stat(f.Shm); err != nil || fi.Mode()&os.ModePerm != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("shm mode %v, %v; want 1777", fi.Mode(), err)
	}
	if err := (podFiles{}).Remove(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if isMounted(f.Shm) {
		t.Error("shm still mounted")
	}
}

func assertOwner(t *testing.T, p string, uid, gid uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Errorf("stat %s: %v", p, err)
		return
	}
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("%s is owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
}

func isMounted(p string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(data), " "+p+" ")
}
