package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
	"github.com/cricket-cri/cricket/test/testutil/podnet"
)

// podNet is a private CNI network of one test (test/testutil/podnet): its
// own bridge, a /24 of 10.231.0.0/16 that nothing else on the machine uses,
// and a firewall chain that lets pod traffic reach only the pod subnet and
// the host.
type podNet struct{ *podnet.Network }

// newPodNet makes the test's network; the chain and the bridge are removed
// when the test ends, after the daemon (cleanups run last-registered first,
// and the daemon is started later). octet picks 10.231.<octet>.0/24.
func newPodNet(t *testing.T, tag string, octet int) *podNet {
	t.Helper()
	if err := podnet.Missing(); err != nil {
		t.Skip(err)
	}
	suffix := fmt.Sprint(os.Getpid() % 10000)
	// The bridge name is at most 15 bytes for tags of up to 4.
	return &podNet{podnet.New(t, t.TempDir(), "crn-"+tag, "crn"+tag+suffix,
		"CRN-"+strings.ToUpper(tag)+"-"+suffix, fmt.Sprintf("10.231.%d.0/24", octet))}
}

// startNetDaemon starts a daemon on the test network that pulls from the
// shared mirror; the embedded default network is disabled so that a
// configuration it cannot load fails the pods instead of using cricket0.
// Every pod is removed before the daemon stops.
func startNetDaemon(t *testing.T, n *podNet) *harness.Daemon {
	t.Helper()
	d := newNetDaemon(t, n)
	d.Start()
	t.Cleanup(func() { removeAllPods(t, d) })
	return d
}

// newNetDaemon prepares a daemon's config for the test network and the
// shared mirror.
func newNetDaemon(t *testing.T, n *podNet) *harness.Daemon {
	t.Helper()
	m := sharedMirror(t)
	d := newDaemon(t)
	if err := imagebuild.WriteHostsDir(filepath.Join(d.Dir, "certs.d"), m.Addrs()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Config, []byte(n.Config()), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Args = append(d.Args, "--registry-config-path", filepath.Join(d.Dir, "certs.d"))
	return d
}

// pullPodImage pulls podImage into the daemon.
func pullPodImage(t *testing.T, d *harness.Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: podImage}}); err != nil {
		t.Fatalf("pull %s: %v", podImage, err)
	}
}

// podIP returns the primary IP PodSandboxStatus reports.
func podIP(t *testing.T, rt runtimeapi.RuntimeServiceClient, podID string) string {
	t.Helper()
	resp, err := rt.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatalf("PodSandboxStatus %s: %v", podID, err)
	}
	return resp.GetStatus().GetNetwork().GetIp()
}

// inSubnet reports whether ip is an address of n's subnet.
func (n *podNet) inSubnet(ip string) bool {
	_, ipnet, _ := net.ParseCIDR(n.Subnet)
	parsed := net.ParseIP(ip)
	return parsed != nil && ipnet.Contains(parsed)
}

// httpdContainer serves body at / on port 80 with busybox httpd.
func httpdContainer(name, body string) *runtimeapi.ContainerConfig {
	return testContainer(name, fmt.Sprintf("mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 80 -h /www", body))
}

// waitExec runs cmd in a container until it exits 0 (for up to 10 s) and
// returns its stdout; it fails the test with the last error otherwise.
func waitExec(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string, cmd ...string) string {
	t.Helper()
	var out string
	testutil.Eventually(t, fmt.Sprintf("exec %q to succeed", cmd), 10*time.Second, func() error {
		resp, err := rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 5})
		if err != nil {
			return err
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("exit %d, stdout %q, stderr %q", resp.ExitCode, resp.Stdout, resp.Stderr)
		}
		out = strings.TrimSpace(string(resp.Stdout))
		return nil
	})
	return out
}

// networkLeaks lists what the test network still holds after every pod
// is gone: veths on its bridge, host-local leases, libcni cache entries,
// iptables rules naming a pod, pinned network namespaces under the daemon's
// state dir.
func networkLeaks(t *testing.T, d *harness.Daemon, n *podNet, podIDs []string) []string {
	t.Helper()
	out := n.Leaks(d.Root)
	for _, table := range []string{"nat", "filter"} {
		for _, line := range strings.Split(iptablesSave(t, table), "\n") {
			if strings.Contains(line, `\"`+n.Name+`\"`) {
				out = append(out, "iptables "+table+" rule of network "+n.Name+": "+line)
				continue
			}
			for _, id := range podIDs {
				if strings.Contains(line, id) {
					out = append(out, "iptables "+table+": "+line)
				}
			}
		}
	}
	_ = filepath.Walk(d.State, func(p string, info os.FileInfo, err error) error {
		if err == nil && filepath.Base(p) == "net" && filepath.Base(filepath.Dir(p)) == "ns" {
			out = append(out, "netns file: "+p)
		}
		return nil
	})
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if strings.Contains(line, d.Dir) && strings.Contains(line, "nsfs") {
			out = append(out, "netns mount: "+line)
		}
	}
	return out
}
