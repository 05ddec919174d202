package network

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/test/testutil"
)

// testConflist is a private network for root tests: its own bridge and
// subnet, so nothing the host or other tests use is touched.
func testConflist(bridge, subnet, dataDir string) string {
	return fmt.Sprintf(`{"cniVersion":"1.0.0","name":"crtest","plugins":[
{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"dataDir":%q}},
{"type":"portmap","capabilities":{"portMappings":true}}]}`, bridge, subnet, dataDir)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func TestRealPluginsSetupTeardown(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	confDir := filepath.Join(dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bridge := "crt" + fmt.Sprint(os.Getpid()%100000)
	conf := testConflist(bridge, "10.251.7.0/24", filepath.Join(dir, "ipam"))
	if err := os.WriteFile(filepath.Join(confDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{ConfDir: confDir, BinDirs: []string{"/opt/cni/bin", "/usr/lib/cni"}, DataDir: filepath.Join(dir, "cni")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Status(); err != nil {
		t.Fatalf("Status: %v (is containernetworking-plugins installed?)", err)
	}
	ns := fmt.Sprintf("crtest-%d", os.Getpid())
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		_ = exec.Command("ip", "link", "del", bridge).Run()
	})
	pod := &Pod{ID: "crtestpod" + fmt.Sprint(os.Getpid()), Name: "p", Namespace: "default", UID: "u", NetNS: "/var/run/netns/" + ns,
		PortMappings: []PortMapping{{Protocol: "tcp", ContainerPort: 80, HostPort: 18080, HostIP: "127.0.0.1"}}}
	start := time.Now()
	res, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Teardown(context.Background(), pod) })
	t.Logf("CNI setup took %v, pod IPs %v", time.Since(start), res.IPs)
	addrs := run(t, "ip", "netns", "exec", ns, "ip", "-o", "addr")
	if !strings.Contains(addrs, res.IPs[0].String()) || !strings.Contains(addrs, "127.0.0.1") {
		t.Errorf("pod netns addresses lack %v or lo:\n%s", res.IPs[0], addrs)
	}
	run(t, "ip", "netns", "exec", ns, "busybox", "ping", "-c", "1", "-W", "2", "10.251.7.1")
	if !strings.Contains(run(t, "iptables-save", "-t", "nat"), pod.ID) {
		t.Error("no hostport rule for the pod")
	}

	if err := m.Teardown(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(context.Background(), pod); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if strings.Contains(run(t, "iptables-save", "-t", "nat"), pod.ID) {
		t.Error("hostport rules left after teardown")
	}
	if links := run(t, "ip", "netns", "exec", ns, "ip", "-o", "link"); strings.Contains(links, "eth0") {
		t.Errorf("eth0 left in the pod netns:\n%s", links)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "ipam", "crtest"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "10.") {
			t.Errorf("IP allocation %s left after teardown", e.Name())
		}
	}
}
