package oci

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// NamespacePaths are the pinned namespace files of a pod, which its
// containers may join; an empty path means the pod has no namespace of
// that kind of its own. They are recorded with the pod
// (sandbox.Sandbox.Namespaces).
type NamespacePaths struct {
	Network string `json:"network,omitempty"`
	IPC     string `json:"ipc,omitempty"`
	UTS     string `json:"uts,omitempty"`
	// PID is the pod's pid namespace (its init's), for pid mode POD.
	PID string `json:"pid,omitempty"`
	// TargetPID is the target container's pid namespace, for mode TARGET:
	// set per container, never part of the pod's record.
	TargetPID string `json:"-"`
	// User is the pod's user namespace, for userns mode POD; empty creates
	// a new one with the requested mappings. The pod's other namespaces are
	// owned by it.
	User string `json:"user,omitempty"`
}

// WithNamespaces sets the container's namespaces from the CRI options. A
// container always gets its own mount namespace. Network and IPC are the
// pod's (POD) or the host's (NODE); UTS follows network, as the kubelet
// expects for host-network pods. PID is the pod's (POD), the container's own
// (CONTAINER), the host's (NODE) or another container's (TARGET). cgroupNS
// gives the container a private cgroup namespace (cgroup v2 hosts).
func WithNamespaces(o *runtimeapi.NamespaceOption, p NamespacePaths, cgroupNS bool, f Features) SpecOpt {
	return func(s *specs.Spec) error {
		ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		add := func(t specs.LinuxNamespaceType, path string) {
			ns = append(ns, specs.LinuxNamespace{Type: t, Path: path})
		}
		if err := sharedNamespace("network", o.GetNetwork(), p.Network, specs.NetworkNamespace, add); err != nil {
			return err
		}
		if err := sharedNamespace("network", o.GetNetwork(), p.UTS, specs.UTSNamespace, add); err != nil {
			return err
		}
		if err := sharedNamespace("ipc", o.GetIpc(), p.IPC, specs.IPCNamespace, add); err != nil {
			return err
		}
		if err := pidNamespace(o, p, add); err != nil {
			return err
		}
		if cgroupNS {
			add(specs.CgroupNamespace, "")
		}
		s.Linux.Namespaces = ns
		m, err := PodUserNamespace(o, f.UserNamespaces)
		if err != nil {
			return err
		}
		if m != nil && o.GetNetwork() == runtimeapi.NamespaceMode_NODE {
			bindHostSysfs(s)
		}
		return withUserNamespace(s, m, p.User, f)
	}
}

// bindHostSysfs replaces a fresh sysfs by a read-only recursive bind of
// the host's /sys: the kernel mounts sysfs only for a user namespace that
// owns the network namespace, and a pod in its own user namespace on the
// host network does not (KEP-5607; containerd and CRI-O do the same). The
// bind is a slave: on a systemd host /sys is shared, and what the runtime
// mounts below it (crun's /sys/fs/cgroup) would otherwise propagate back to
// the host, where it kept the container's cgroup busy after its removal.
func bindHostSysfs(s *specs.Spec) {
	for i, m := range s.Mounts {
		if m.Type == "sysfs" {
			s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "bind", Source: "/sys",
				Options: []string{"rbind", "rslave", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

func sharedNamespace(field string, mode runtimeapi.NamespaceMode, path string, t specs.LinuxNamespaceType, add func(specs.LinuxNamespaceType, string)) error {
	switch mode {
	case runtimeapi.NamespaceMode_POD:
		if path == "" {
			return invalid("%s namespace mode POD but the pod has no %s namespace", field, t)
		}
		add(t, path)
	case runtimeapi.NamespaceMode_CONTAINER:
		add(t, "")
	case runtimeapi.NamespaceMode_NODE:
	default:
		return invalid("%s namespace mode %s is not supported", field, mode)
	}
	return nil
}

func pidNamespace(o *runtimeapi.NamespaceOption, p NamespacePaths, add func(specs.LinuxNamespaceType, string)) error {
	switch o.GetPid() {
	case runtimeapi.NamespaceMode_POD:
		if p.PID == "" {
			return invalid("pid namespace mode POD but the pod has no pid namespace")
		}
		add(specs.PIDNamespace, p.PID)
	case runtimeapi.NamespaceMode_CONTAINER:
		add(specs.PIDNamespace, "")
	case runtimeapi.NamespaceMode_NODE:
	case runtimeapi.NamespaceMode_TARGET:
		if o.GetTargetId() == "" || p.TargetPID == "" {
			return invalid("pid namespace mode TARGET needs a running target container (target_id %q)", o.GetTargetId())
		}
		add(specs.PIDNamespace, p.TargetPID)
	default:
		return invalid("pid namespace mode %s is not supported", o.GetPid())
	}
	return nil
}

// sysctlNamespace names the namespace a sysctl belongs to, or "" for a
// sysctl that is not namespaced (and so may not be set by a pod).
func sysctlNamespace(key string) specs.LinuxNamespaceType {
	k := strings.ReplaceAll(key, "/", ".")
	switch {
	case strings.HasPrefix(k, "net."):
		return specs.NetworkNamespace
	case k == "kernel.hostname", k == "kernel.domainname":
		return specs.UTSNamespace
	case strings.HasPrefix(k, "fs.mqueue."), k == "kernel.sem",
		strings.HasPrefix(k, "kernel.shm"), strings.HasPrefix(k, "kernel.msg"):
		return specs.IPCNamespace
	}
	return ""
}

// WithSysctls sets namespaced sysctls. Apply after WithNamespaces: a sysctl
// whose namespace is the host's is rejected, as are non-namespaced ones.
func WithSysctls(sysctls map[string]string) SpecOpt {
	return func(s *specs.Spec) error {
		if len(sysctls) == 0 {
			return nil
		}
		out := make(map[string]string, len(sysctls))
		for k, v := range sysctls {
			t := sysctlNamespace(k)
			if t == "" {
				return invalid("sysctl %q is not namespaced", k)
			}
			if !hasNamespace(s, t) {
				return invalid("sysctl %q needs a private %s namespace", k, t)
			}
			if strings.ContainsAny(k, "\x00") || strings.Contains(k, "..") || strings.ContainsAny(v, "\x00") {
				return invalid("sysctl %q=%q", k, v)
			}
			out[k] = v
		}
		s.Linux.Sysctl = out
		return nil
	}
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == t {
			return true
		}
	}
	return false
}
