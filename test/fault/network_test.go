package fault

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cniBinDir is where Debian's containernetworking-plugins installs them.
const cniBinDir = "/usr/lib/cni"

// podNet is the fault test's private CNI network: its own bridge, a /24 of
// 10.231.0.0/16 (test/integration uses 10-17 of the third octet),
// host-local leases in the test's temp dir, no masquerade, and a firewall
// chain that keeps pod traffic on the subnet and the host.
type podNet struct {
	Name, Bridge, Subnet, ConfDir, IPAMDir, chain string
}

func newPodNet(t *testing.T, dir string, octet int) *podNet {
	t.Helper()
	for _, bin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, bin)); err != nil {
			t.Skipf("CNI plugin %s is not installed in %s (apt-get install containernetworking-plugins)", bin, cniBinDir)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed")
	}
	suffix := fmt.Sprint(os.Getpid() % 10000)
	n := &podNet{
		Name:    "crn-fault",
		Bridge:  "crnflt" + suffix,
		Subnet:  fmt.Sprintf("10.231.%d.0/24", octet),
		ConfDir: filepath.Join(dir, "net.d"),
		IPAMDir: filepath.Join(dir, "ipam"),
		chain:   "CRN-FAULT-" + suffix,
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
	return n
}

// leaks lists the network state the pods left: veths on the bridge,
// host-local leases, libcni result cache entries of the daemon.
func (n *podNet) leaks(d *daemon) []string {
	var out []string
	if links, err := exec.Command("ip", "-o", "link", "show", "master", n.Bridge).Output(); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(links)), "\n") {
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
	return out
}

// cniPluginsOf lists the CNI plugins still working for d's pods (their
// CNI_NETNS is under d's state dir); a SIGKILLed daemon leaves them
// running to completion.
func cniPluginsOf(d *daemon) int {
	environs, _ := filepath.Glob("/proc/[0-9]*/environ")
	n := 0
	for _, p := range environs {
		exe, err := os.Readlink(filepath.Join(filepath.Dir(p), "exe"))
		if err != nil || !strings.HasPrefix(exe, cniBinDir+"/") {
			continue
		}
		if env, _ := os.ReadFile(p); bytes.Contains(env, []byte("CNI_NETNS="+d.State)) {
			n++
		}
	}
	return n
}

func waitNoCNIPlugin(d *daemon, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cniPluginsOf(d) == 0 {
			return true
		}
	}
	return false
}
