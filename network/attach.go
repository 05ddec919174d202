package network

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// PodInterface is the name of a pod's interface on the pod network.
const PodInterface = "eth0"

// Bandwidth annotations of a pod, as the kubelet's other runtimes read them.
const (
	IngressBandwidthAnnotation = "kubernetes.io/ingress-bandwidth"
	EgressBandwidthAnnotation  = "kubernetes.io/egress-bandwidth"
)

// PortMapping is a host port forwarded to a pod port.
type PortMapping struct {
	// Protocol is "tcp", "udp" or "sctp".
	Protocol      string
	ContainerPort int32
	HostPort      int32
	HostIP        string
}

// Pod identifies a pod to CNI and says what it asks of the network.
type Pod struct {
	ID        string
	Name      string
	Namespace string
	UID       string
	// NetNS is the path of the pod's pinned network namespace.
	NetNS        string
	PortMappings []PortMapping
	Annotations  map[string]string
}

// Result is what a pod got from the network.
type Result struct {
	// IPs are the pod's addresses, the primary (IPv4 when there is one) first.
	IPs []net.IP
}

func (p *Pod) runtimeConf() *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: p.ID,
		NetNS:       p.NetNS,
		IfName:      PodInterface,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", p.Namespace},
			{"K8S_POD_NAME", p.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ID},
			{"K8S_POD_UID", p.UID},
		},
		CapabilityArgs: map[string]any{},
	}
	if len(p.PortMappings) > 0 {
		pms := make([]map[string]any, 0, len(p.PortMappings))
		for _, pm := range p.PortMappings {
			pms = append(pms, map[string]any{
				"hostPort": pm.HostPort, "containerPort": pm.ContainerPort,
				"protocol": strings.ToLower(pm.Protocol), "hostIP": pm.HostIP,
			})
		}
		rt.CapabilityArgs["portMappings"] = pms
	}
	return rt
}

// bandwidth turns the pod's bandwidth annotations into the CNI bandwidth
// capability (bits per second).
func bandwidth(annotations map[string]string) (map[string]any, error) {
	bw := map[string]any{}
	for key, dir := range map[string]string{IngressBandwidthAnnotation: "ingress", EgressBandwidthAnnotation: "egress"} {
		v, ok := annotations[key]
		if !ok {
			continue
		}
		rate, err := parseQuantity(v)
		if err != nil || rate <= 0 {
			return nil, fmt.Errorf("annotation %s=%q: not a positive bandwidth: %w", key, v, errdefs.ErrInvalidArgument)
		}
		bw[dir+"Rate"] = rate
		bw[dir+"Burst"] = math.MaxInt32 // as the kubelet's other runtimes: no burst limit
	}
	if len(bw) == 0 {
		return nil, nil
	}
	return bw, nil
}

// Setup attaches the pod to the loopback and pod networks in its network
// namespace. On failure nothing stays attached.
func (m *CNI) Setup(ctx context.Context, pod *Pod) (_ *Result, err error) {
	list, _, err := m.LoadConfig()
	if err != nil {
		return nil, fmt.Errorf("set up network of pod %s: %w", pod.ID, errors.Join(err, errdefs.ErrUnavailable))
	}
	rt := pod.runtimeConf()
	bw, err := bandwidth(pod.Annotations)
	if err != nil {
		return nil, err
	}
	if bw != nil {
		rt.CapabilityArgs["bandwidth"] = bw
	}
	lo, err := libcni.NetworkConfFromBytes([]byte(loopbackConflist))
	if err != nil {
		return nil, fmt.Errorf("loopback config: %w", err)
	}
	// lo and the pod network are independent: the two ADDs (plugin execs
	// of several milliseconds each) run side by side.
	loDone := make(chan error, 1)
	go func() {
		_, err := m.plugins().AddNetworkList(ctx, lo, loRuntimeConf(rt))
		loDone <- err
	}()
	res, err := m.plugins().AddNetworkList(ctx, list, rt)
	loErr := <-loDone
	if err != nil || loErr != nil {
		// A failed ADD may have done part of its work: DEL undoes it.
		cleanup := context.WithoutCancel(ctx)
		if derr := m.plugins().DelNetworkList(cleanup, list, rt); derr != nil {
			klog.FromContext(ctx).Error(derr, "CNI DEL after failed ADD", "podSandboxID", pod.ID)
		}
		if derr := m.plugins().DelNetworkList(cleanup, lo, loRuntimeConf(rt)); derr != nil {
			klog.FromContext(ctx).Error(derr, "CNI DEL loopback after failed ADD", "podSandboxID", pod.ID)
		}
		if loErr != nil {
			return nil, fmt.Errorf("CNI ADD loopback for pod %s: %w", pod.ID, withContextErr(ctx, loErr))
		}
		return nil, fmt.Errorf("CNI ADD network %q for pod %s: %w", list.Name, pod.ID, withContextErr(ctx, err))
	}
	r, err := podResult(res)
	if err != nil {
		cleanup := context.WithoutCancel(ctx)
		_ = m.plugins().DelNetworkList(cleanup, list, rt)
		_ = m.plugins().DelNetworkList(cleanup, lo, loRuntimeConf(rt))
		return nil, err
	}
	return r, nil
}

func loRuntimeConf(rt *libcni.RuntimeConf) *libcni.RuntimeConf {
	lo := *rt
	lo.IfName = "lo"
	lo.CapabilityArgs = nil
	return &lo
}

func podResult(res cnitypes.Result) (*Result, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("convert CNI result: %w", err)
	}
	var v4, v6 []net.IP
	for _, ip := range r.IPs {
		if ip.Interface != nil && *ip.Interface < len(r.Interfaces) && r.Interfaces[*ip.Interface].Sandbox == "" {
			continue // an address of a host-side interface
		}
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.IP.To4())
		} else {
			v6 = append(v6, ip.Address.IP)
		}
	}
	ips := append(v4, v6...)
	if len(ips) == 0 {
		return nil, fmt.Errorf("CNI result has no pod IP: %s", res)
	}
	return &Result{IPs: ips}, nil
}

// Teardown detaches the pod from the networks it was attached to, with the
// configuration it was attached with when that is cached. A missing netns
// is not an error: plugins release what they hold outside it (IPs, rules).
func (m *CNI) Teardown(ctx context.Context, pod *Pod) error {
	rt := pod.runtimeConf()
	if pod.NetNS != "" && !isNetNS(pod.NetNS) {
		// Gone, or a pin file whose mount a crash already undid (plugins
		// refuse it): DEL without a netns still releases the pod's IPs.
		rt.NetNS = ""
	}
	var errs []error
	list, err := m.cachedOrCurrent(rt)
	if err != nil {
		errs = append(errs, err)
	} else if err := m.plugins().DelNetworkList(ctx, list, rt); err != nil {
		errs = append(errs, fmt.Errorf("CNI DEL network %q for pod %s: %w", list.Name, pod.ID, err))
	}
	// DEL runs even when the netns is gone: it is also what drops libcni's
	// cached result, which GC would otherwise find again after every restart.
	lo, _ := libcni.NetworkConfFromBytes([]byte(loopbackConflist))
	if err := m.plugins().DelNetworkList(ctx, lo, loRuntimeConf(rt)); err != nil {
		errs = append(errs, fmt.Errorf("CNI DEL loopback for pod %s: %w", pod.ID, err))
	}
	return errors.Join(errs...)
}

// cachedOrCurrent returns the network configuration the pod was attached
// with (libcni caches it at ADD), else the current one.
func (m *CNI) cachedOrCurrent(rt *libcni.RuntimeConf) (*libcni.NetworkConfigList, error) {
	atts, err := m.plugins().GetCachedAttachments(rt.ContainerID)
	if err == nil {
		for _, a := range atts {
			if a.IfName != PodInterface || a.Network == "cricket-loopback" {
				continue
			}
			if list, err := libcni.NetworkConfFromBytes(a.Config); err == nil {
				if a.CapabilityArgs != nil {
					rt.CapabilityArgs = a.CapabilityArgs
				}
				return list, nil
			}
		}
	}
	list, _, err := m.LoadConfig()
	return list, err
}

// GC detaches every cached attachment whose pod is not in live, and
// releases default-network IPs held for pods not in live (an ADD cut short
// by a crash leaves an allocation without a cache entry).
func (m *CNI) GC(ctx context.Context, live map[string]bool) error {
	atts, err := m.plugins().GetCachedAttachments("")
	if err != nil {
		return fmt.Errorf("list cached CNI attachments: %w", err)
	}
	var errs []error
	done := map[string]bool{}
	for _, a := range atts {
		if live[a.ContainerID] || done[a.ContainerID] {
			continue
		}
		done[a.ContainerID] = true
		klog.FromContext(ctx).Info("removing CNI attachment of a pod that no longer exists", "podSandboxID", a.ContainerID, "network", a.Network)
		if err := m.Teardown(ctx, &Pod{ID: a.ContainerID, NetNS: a.NetNS}); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range m.orphanAllocations(live) {
		if done[id] {
			continue
		}
		klog.FromContext(ctx).Info("releasing pod IP of a pod that no longer exists", "podSandboxID", id)
		if err := m.Teardown(ctx, &Pod{ID: id}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// orphanAllocations lists the pods holding an address in the default
// network's host-local store that are not live.
func (m *CNI) orphanAllocations(live map[string]bool) []string {
	if m.opts.DataDir == "" {
		return nil
	}
	dir := filepath.Join(m.opts.DataDir, "networks", DefaultNetworkName)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if net.ParseIP(e.Name()) == nil {
			continue // last_reserved_ip, lock
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		id := strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0])
		if id != "" && !live[id] {
			seen[id] = true
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// withContextErr adds ctx's error to err when ctx is done: libcni reports
// a plugin killed by the context's end as text ("netplugin failed with no
// error message: context canceled"), which would reach the caller as
// Unknown where DeadlineExceeded or Canceled says what happened.
func withContextErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return errors.Join(err, cerr)
}
