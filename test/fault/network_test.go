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

	"github.com/cricket-cri/cricket/test/testutil/podnet"
)

// cniBinDir is where Debian's containernetworking-plugins installs them.
const cniBinDir = podnet.BinDir

// podNet is the fault test's private CNI network (test/testutil/podnet): its
// own bridge, a /24 of 10.231.0.0/16 (test/integration uses 10-17 of the
// third octet), host-local leases in the test's temp dir, no masquerade, and
// a firewall chain that keeps pod traffic on the subnet and the host.
type podNet struct{ *podnet.Network }

func newPodNet(t *testing.T, dir string, octet int) *podNet {
	t.Helper()
	if err := podnet.Missing(); err != nil {
		t.Skip(err)
	}
	suffix := fmt.Sprint(os.Getpid() % 10000)
	return &podNet{podnet.New(t, dir, "crn-fault", "crnflt"+suffix, "CRN-FAULT-"+suffix, fmt.Sprintf("10.231.%d.0/24", octet))}
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
