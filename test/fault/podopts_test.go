package fault

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// podOptions are the namespace and port options of one lifecycle's pod,
// the same for each of its attempts.
type podOptions struct {
	sharedPID   bool  // namespace_options.pid POD: a pod init holds the PID namespace
	hostNetwork bool  // namespace_options.network NODE: no CNI
	userns      bool  // a user namespace of the pod's (hostUsers: false)
	hostPort    int32 // a port mapping to the pod (portmap's DNAT rules); 0 for none
}

func (o podOptions) String() string {
	var f []string
	if o.sharedPID {
		f = append(f, "shared-pid")
	}
	if o.hostNetwork {
		f = append(f, "host-network")
	}
	if o.userns {
		f = append(f, "userns")
	}
	if o.hostPort != 0 {
		f = append(f, fmt.Sprintf("host-port=%d", o.hostPort))
	}
	if len(f) == 0 {
		return "plain"
	}
	return strings.Join(f, ",")
}

// hostSupport says which pod options the host lacks: each non-empty
// field is why that option is never chosen.
type hostSupport struct {
	userns string
}

// Host ports of the workload: one per lifecycle, below the ephemeral port
// range (32768 and up on Linux), so that portmap's DNAT never catches a
// connection another program makes to a port it was given.
const (
	hostPortBase  = 28000
	hostPortRange = 1000
)

// usernsHostID is where container root lands on the host in userns pods.
const usernsHostID = 400000

// choosePodOptions draws lifecycle lc's options from its own source,
// seeded by the run's seed and lc: a run's pods get the same options
// whatever order the lifecycles run in. Host networking goes alone: no
// port mappings (the kubelet sends none) and no user namespace (refused
// with host networking, KEP-5607 aside).
func choosePodOptions(seed int64, lc int, host hostSupport) podOptions {
	r := rand.New(rand.NewSource(seed*1_000_003 + int64(lc)))
	o := podOptions{sharedPID: r.Intn(3) == 0}
	if r.Intn(6) == 0 {
		o.hostNetwork = true
		return o
	}
	o.userns = r.Intn(4) == 0 && host.userns == ""
	if r.Intn(3) == 0 {
		o.hostPort = int32(hostPortBase + lc%hostPortRange)
	}
	return o
}

// apply sets the options on a pod config.
func (o podOptions) apply(cfg *runtimeapi.PodSandboxConfig) {
	ns := o.namespaces()
	cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns}}
	if o.hostPort != 0 {
		cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: o.hostPort}}
	}
}

// namespaces are the namespace options of the pod and of each of its
// containers, as the kubelet sends them.
func (o podOptions) namespaces() *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if o.sharedPID {
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	if o.hostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if o.userns {
		ids := []*runtimeapi.IDMapping{{ContainerId: 0, HostId: usernsHostID, Length: 65536}}
		ns.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: ids, Gids: ids}
	}
	return ns
}

// probeHostSupport asks the daemon what the host lacks for the workload's
// options: user namespaces are used only when Status advertises them for
// the default handler (the daemon checks idmapped overlay mounts and
// that bundles are reachable by an unprivileged root).
func probeHostSupport(ctx context.Context, rt runtimeapi.RuntimeServiceClient) (hostSupport, error) {
	resp, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return hostSupport{}, fmt.Errorf("Status: %w", err)
	}
	for _, h := range resp.RuntimeHandlers {
		if h.Name == "" {
			if h.Features.GetUserNamespaces() {
				return hostSupport{}, nil
			}
			return hostSupport{userns: "the daemon does not advertise user namespaces for its default handler on this host (idmapped overlay mounts missing? its log says why)"}, nil
		}
	}
	return hostSupport{userns: "the daemon lists no default handler in Status"}, nil
}

// TestChoosePodOptions: the options of a lifecycle depend on the seed and
// the lifecycle only; over a run every option comes up; host networking
// goes alone; an option the host lacks is never chosen; host ports stay
// below the ephemeral range.
func TestChoosePodOptions(t *testing.T) {
	counts := map[string]int{}
	for lc := 0; lc < 300; lc++ {
		o := choosePodOptions(42, lc, hostSupport{})
		if again := choosePodOptions(42, lc, hostSupport{}); again != o {
			t.Fatalf("lifecycle %d: %v, then %v with the same seed", lc, o, again)
		}
		if o.hostNetwork && (o.userns || o.hostPort != 0) {
			t.Errorf("lifecycle %d: host networking with %v", lc, o)
		}
		if o.hostPort != 0 && (o.hostPort < hostPortBase || o.hostPort >= 32768) {
			t.Errorf("lifecycle %d: host port %d", lc, o.hostPort)
		}
		for _, f := range strings.Split(o.String(), ",") {
			counts[strings.SplitN(f, "=", 2)[0]]++
		}
		if o := choosePodOptions(42, lc, hostSupport{userns: "no"}); o.userns {
			t.Errorf("lifecycle %d: user namespace chosen on a host without", lc)
		}
	}
	for _, f := range []string{"plain", "shared-pid", "host-network", "userns", "host-port"} {
		if counts[f] == 0 {
			t.Errorf("no pod with %s in 300 lifecycles: %v", f, counts)
		}
	}
	differ := 0
	for lc := 0; lc < 50; lc++ {
		if choosePodOptions(1, lc, hostSupport{}) != choosePodOptions(2, lc, hostSupport{}) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("two seeds give the same options to 50 lifecycles")
	}
}
