package network

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
)

// DefaultNetworkName is the name of the embedded default network.
const DefaultNetworkName = "cricket"

// DefaultBridge is the bridge of the embedded default network.
const DefaultBridge = "cricket0"

// DefaultPodSubnet is the private subnet of the embedded default network
// when the kubelet hands over no pod CIDR. It differs from containerd's
// 10.88.0.0/16 so that both can run side by side on one node.
const DefaultPodSubnet = "10.89.0.0/16"

// DefaultConflist renders the embedded default network: a bridge with
// host-local IPAM on subnet, with port mappings and bandwidth limits. The
// IPAM allocations live under dataDir, so that each daemon's root holds its
// own; an empty dataDir means host-local's default, /var/lib/cni/networks.
func DefaultConflist(subnet, dataDir string) ([]byte, error) {
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return nil, fmt.Errorf("default pod subnet %q: %w", subnet, err)
	}
	defaultRoute := "0.0.0.0/0"
	if ipnet.IP.To4() == nil {
		defaultRoute = "::/0"
	}
	ipam := map[string]any{
		"type":   "host-local",
		"ranges": [][]map[string]string{{{"subnet": ipnet.String()}}},
		"routes": []map[string]string{{"dst": defaultRoute}},
	}
	if dataDir != "" {
		ipam["dataDir"] = filepath.Clean(dataDir)
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       DefaultNetworkName,
		"plugins": []map[string]any{
			{
				"type":        "bridge",
				"bridge":      DefaultBridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam":        ipam,
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			{"type": "bandwidth", "capabilities": map[string]bool{"bandwidth": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// loopbackConflist brings up lo in every pod, as the peers do.
const loopbackConflist = `{"cniVersion": "1.0.0", "name": "cricket-loopback", "plugins": [{"type": "loopback"}]}`
