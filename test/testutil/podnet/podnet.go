// Package podnet gives root tests a private CNI network: a bridge of their
// own, a subnet nothing else on the machine uses, host-local leases in the
// test's directory, portmap for hostPorts, no masquerade, and a FORWARD
// chain that lets pod traffic reach only the pod subnet and the host, so
// that nothing a test pod sends is routed off the machine.
package podnet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BinDir is where Debian's containernetworking-plugins installs the
// plugins these networks use.
const BinDir = "/usr/lib/cni"

// Network is one test's CNI network.
type Network struct {
	Name    string // CNI network name; host-local keeps its leases in IPAMDir/Name
	Bridge  string // at most 15 bytes
	Subnet  string // an IPv4 CIDR
	Gateway string // the subnet's first address, the bridge's
	ConfDir string // holds the network's conflist only
	IPAMDir string
	Chain   string // the iptables chain
}

// Missing says which plugin or tool the networks need is not installed, or
// returns nil. Tests skip or fail on it as suits them.
func Missing() error {
	for _, bin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(BinDir, bin)); err != nil {
			return fmt.Errorf("CNI plugin %s is not installed in %s (hack/deps.sh installs containernetworking-plugins)", bin, BinDir)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("iptables is not installed")
	}
	return nil
}

// New writes the network's conflist into dir/net.d (leases in dir/ipam)
// and installs its firewall chain. The bridge and the chain are removed
// when the test ends, after any daemon started later (cleanups run
// last-registered first).
func New(t testing.TB, dir, name, bridge, chain, subnet string) *Network {
	t.Helper()
	ip, ipnet, err := net.ParseCIDR(subnet)
	if err != nil || ip.To4() == nil {
		t.Fatalf("pod subnet %q: not an IPv4 CIDR", subnet)
	}
	gw := ipnet.IP.To4()
	gw = net.IPv4(gw[0], gw[1], gw[2], gw[3]+1)
	n := &Network{
		Name:    name,
		Bridge:  bridge,
		Subnet:  ipnet.String(),
		Gateway: gw.String(),
		ConfDir: filepath.Join(dir, "net.d"),
		IPAMDir: filepath.Join(dir, "ipam"),
		Chain:   chain,
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
func (n *Network) installFirewall(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", n.Bridge).Run()
		_ = Iptables("-D", "FORWARD", "-s", n.Subnet, "-j", n.Chain)
		_ = Iptables("-F", n.Chain)
		_ = Iptables("-X", n.Chain)
	})
	for _, args := range [][]string{
		{"-N", n.Chain},
		{"-A", n.Chain, "-d", n.Subnet, "-j", "RETURN"},
		{"-A", n.Chain, "-j", "DROP"},
		{"-I", "FORWARD", "1", "-s", n.Subnet, "-j", n.Chain},
	} {
		if err := Iptables(args...); err != nil {
			t.Fatal(err)
		}
	}
}

// Iptables runs iptables -w with args.
func Iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %v: %w: %s", args, err, out)
	}
	return nil
}

// Config is the [network] section of a cricket.toml that puts a daemon's
// pods on n: its conflist, the plugins in BinDir, and no embedded default
// network, so that a configuration the daemon cannot load fails the pods
// instead of using cricket0.
func (n *Network) Config() string {
	return fmt.Sprintf("[network]\ncni_conf_dir = %q\ncni_bin_dirs = [%q]\ndefault_pod_subnet = \"\"\n", n.ConfDir, BinDir)
}
