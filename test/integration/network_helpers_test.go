package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

// cniBinDir is where Debian's containernetworking-plugins installs the
// plugins the test networks use.
const cniBinDir = "/usr/lib/cni"

// podNet is a private CNI network of one test: its own bridge, a /24 of
// 10.231.0.0/16 that nothing else on the machine uses, host-local IPAM in
// the test's temp dir, no masquerade, and a firewall chain that lets pod
// traffic reach only the pod subnet and the host.
type podNet struct {
	Name    string // CNI network name; host-local keeps its leases in IPAMDir/Name
	Bridge  string
	Subnet  string
	Gateway string
	ConfDir string
	IPAMDir string
	chain   string
}

// newPodNet writes the test network's conflist and installs its firewall
// chain; both the chain and the bridge are removed when the test ends,
// after the daemon (cleanups run last-registered first, and the daemon is
// started later). octet picks 10.231.<octet>.0/24.
func newPodNet(t *testing.T, tag string, octet int) *podNet {
	t.Helper()
	for _, bin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, bin)); err != nil {
			t.Skipf("CNI plugin %s is not installed in %s (apt-get install containernetworking-plugins)", bin, cniBinDir)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed")
	}
	dir := t.TempDir()
	suffix := fmt.Sprint(os.Getpid() % 10000)
	n := &podNet{
		Name:    "crn-" + tag,
		Bridge:  "crn" + tag + suffix, // at most 15 bytes for tags of up to 4
		Subnet:  fmt.Sprintf("10.231.%d.0/24", octet),
		Gateway: fmt.Sprintf("10.231.%d.1", octet),
		ConfDir: filepath.Join(dir, "net.d"),
		IPAMDir: filepath.Join(dir, "ipam"),
		chain:   "CRN-" + strings.ToUpper(tag) + "-" + suffix,
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[
{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
{"type":"portmap","capabilities":{"portMappings":true}}]}`, n.Name, n.Bridge, n.Subnet, n.IPAMDir)
	if err := os.MkdirAll(n.ConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.ConfDir, "10-"+n.Name+".conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.installFirewall(t)
	return n
}

// installFirewall sends everything the pod subnet forwards through a chain
// that returns traffic to the subnet and drops the rest: the pods can talk
// to each other and to the host (INPUT), and nothing they send is routed
// off the machine.
func (n *podNet) installFirewall(t *testing.T) {
	t.Helper()
	ipt := func(args ...string) error {
		out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %v: %w: %s", args, err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", n.Bridge).Run()
		_ = ipt("-D", "FORWARD", "-s", n.Subnet, "-j", n.chain)
		_ = ipt("-F", n.chain)
		_ = ipt("-X", n.chain)
	})
	for _, args := range [][]string{
		{"-N", n.chain},
		{"-A", n.chain, "-d", n.Subnet, "-j", "RETURN"},
		{"-A", n.chain, "-j", "DROP"},
		{"-I", "FORWARD", "1", "-s", n.Subnet, "-j", n.chain},
	} {
		if err := ipt(args...); err != nil {
			t.Fatal(err)
		}
	}
}

// startNetDaemon starts a daemon on the test network that pulls from the
// shared mirror; the embedded default network is disabled so that a
// configuration it cannot load fails the pods instead of using cricket0.
// Every pod is removed before the daemon stops.
func startNetDaemon(t *testing.T, n *podNet) *daemon {
	t.Helper()
	d := newNetDaemon(t, n)
	d.Start(d.netArgs()...)
	requirePods(t, d)
	t.Cleanup(func() { removeAllPods(t, d) })
	return d
}

// newNetDaemon prepares a daemon's config for the test network.
func newNetDaemon(t *testing.T, n *podNet) *daemon {
	t.Helper()
	m := sharedMirror(t)
	d := newDaemon(t)
	if err := imagebuild.WriteHostsDir(filepath.Join(d.Dir, "certs.d"), m.Addrs()); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("[network]\ncni_conf_dir = %q\ncni_bin_dirs = [%q]\ndefault_pod_subnet = \"\"\n", n.ConfDir, cniBinDir)
	if err := os.WriteFile(d.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *daemon) netArgs() []string {
	return []string{"--registry-config-path", filepath.Join(d.Dir, "certs.d")}
}

// pullPodImage pulls podImage into the daemon.
func pullPodImage(t *testing.T, d *daemon) {
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
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 5})
		switch {
		case err != nil:
			last = err.Error()
		case resp.ExitCode != 0:
			last = fmt.Sprintf("exit %d, stdout %q, stderr %q", resp.ExitCode, resp.Stdout, resp.Stderr)
		default:
			return strings.TrimSpace(string(resp.Stdout))
		}
	}
	t.Fatalf("exec %q did not succeed within 10s: %s", cmd, last)
	return ""
}

// networkLeaks lists what the test network still holds after every pod
// is gone: veths on its bridge, host-local leases, libcni cache entries,
// iptables rules naming a pod, pinned network namespaces under the daemon's
// state dir.
func networkLeaks(t *testing.T, d *daemon, n *podNet, podIDs []string) []string {
	t.Helper()
	var out []string
	if links, err := listBridgePorts(n.Bridge); err == nil {
		for _, l := range strings.Split(links, "\n") {
			if l != "" {
				out = append(out, "veth on "+n.Bridge+": "+l)
			}
		}
	}
	leases, _ := os.ReadDir(filepath.Join(n.IPAMDir, n.Name))
	for _, e := range leases {
		if net.ParseIP(e.Name()) != nil {
			raw, _ := os.ReadFile(filepath.Join(n.IPAMDir, n.Name, e.Name()))
			out = append(out, fmt.Sprintf("IP lease %s held by %q", e.Name(), strings.Fields(string(raw))))
		}
	}
	cached, _ := filepath.Glob(filepath.Join(d.Root, "cni", "cache", "results", "*"))
	for _, c := range cached {
		out = append(out, "CNI result cache: "+filepath.Base(c))
	}
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

// listBridgePorts lists the links enslaved to bridge, one a line.
func listBridgePorts(bridge string) (string, error) {
	out, err := exec.Command("ip", "-o", "link", "show", "master", bridge).Output()
	return strings.TrimSpace(string(out)), err
}
