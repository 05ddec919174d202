package podnet

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Ports lists the links enslaved to the network's bridge, one a line.
func (n *Network) Ports() (string, error) {
	out, err := exec.Command("ip", "-o", "link", "show", "master", n.Bridge).Output()
	return strings.TrimSpace(string(out)), err
}

// Leaks lists what pods left on the network once all are gone: veths on
// its bridge, host-local leases, and the libcni result cache entries of
// the daemon whose --root is daemonRoot.
func (n *Network) Leaks(daemonRoot string) []string {
	var out []string
	if links, err := n.Ports(); err == nil {
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
	cached, _ := filepath.Glob(filepath.Join(daemonRoot, "cni", "cache", "results", "*"))
	for _, c := range cached {
		out = append(out, "CNI result cache: "+filepath.Base(c))
	}
	return out
}

// Plugins lists the pids of the CNI plugins (from BinDir) at work for the
// pods of the daemon whose --state is daemonState: their CNI_NETNS is
// under it. A SIGKILLed daemon leaves them running to completion.
func Plugins(daemonState string) []string {
	environs, _ := filepath.Glob("/proc/[0-9]*/environ")
	var pids []string
	for _, p := range environs {
		exe, err := os.Readlink(filepath.Join(filepath.Dir(p), "exe"))
		if err != nil || !strings.HasPrefix(exe, BinDir+"/") {
			continue
		}
		if env, _ := os.ReadFile(p); bytes.Contains(env, []byte("CNI_NETNS="+daemonState)) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// AwaitNoPlugins waits up to timeout for Plugins(daemonState) to be empty
// (polling often: a restart that overlaps them cannot see what they are
// still adding); it reports whether it got so.
func AwaitNoPlugins(daemonState string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(Plugins(daemonState)) == 0 {
			return true
		}
	}
	return false
}
