package nri

import (
	"maps"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// PodSandbox is the NRI view of a pod sandbox.
func PodSandbox(sb *sandbox.Sandbox) *api.PodSandbox {
	cfg := sb.Config
	md := cfg.GetMetadata()
	pod := &api.PodSandbox{
		Id:             sb.ID,
		Name:           md.GetName(),
		Uid:            md.GetUid(),
		Namespace:      md.GetNamespace(),
		Labels:         maps.Clone(cfg.GetLabels()),
		Annotations:    maps.Clone(cfg.GetAnnotations()),
		RuntimeHandler: sb.RuntimeHandler,
		Linux: &api.LinuxPodSandbox{
			CgroupParent: cfg.GetLinux().GetCgroupParent(),
			CgroupsPath:  sb.CgroupPath,
			Namespaces:   podNamespaces(sb.Namespaces),
		},
	}
	if sb.Network.IP != "" {
		pod.Ips = append([]string{sb.Network.IP}, sb.Network.AdditionalIPs...)
	}
	return pod
}

// podNamespaces lists the namespaces the pod owns, as pinned files.
func podNamespaces(ns oci.NamespacePaths) []*api.LinuxNamespace {
	var out []*api.LinuxNamespace
	for _, n := range []struct{ kind, path string }{
		{"network", ns.Network}, {"ipc", ns.IPC}, {"uts", ns.UTS}, {"pid", ns.PID},
	} {
		if n.path != "" {
			out = append(out, &api.LinuxNamespace{Type: n.kind, Path: n.path})
		}
	}
	return out
}

// Container is the NRI view of a container. spec is its OCI spec while it
// is being created; nil later, when only its CRI config and process are
// known.
func Container(c *container.Container, spec *specs.Spec) *api.Container {
	st := c.Status()
	ctr := &api.Container{
		Id:            c.ID,
		PodSandboxId:  c.PodID,
		Name:          c.Config.GetMetadata().GetName(),
		State:         containerState(st.State),
		Labels:        maps.Clone(c.Config.GetLabels()),
		Annotations:   maps.Clone(c.Config.GetAnnotations()),
		Pid:           uint32(st.Pid),
		CreatedAt:     c.CreatedAt.UnixNano(),
		ExitCode:      st.ExitCode,
		StatusReason:  st.Reason,
		StatusMessage: st.Message,
	}
	if !st.StartedAt.IsZero() {
		ctr.StartedAt = st.StartedAt.UnixNano()
	}
	if !st.FinishedAt.IsZero() {
		ctr.FinishedAt = st.FinishedAt.UnixNano()
	}
	if p := c.Process; p != nil {
		ctr.Args, ctr.Env = p.Args, p.Env
	}
	if spec != nil {
		fromSpec(ctr, spec)
	}
	return ctr
}

// fromSpec fills in what a container's OCI spec says.
func fromSpec(ctr *api.Container, spec *specs.Spec) {
	ctr.Annotations = maps.Clone(spec.Annotations)
	ctr.Mounts = api.FromOCIMounts(spec.Mounts)
	ctr.Hooks = api.FromOCIHooks(spec.Hooks)
	if p := spec.Process; p != nil {
		ctr.Args, ctr.Env = p.Args, p.Env
		ctr.Rlimits = rlimits(p.Rlimits)
	}
	l := spec.Linux
	if l == nil {
		return
	}
	ctr.Linux = &api.LinuxContainer{
		Namespaces:  api.FromOCILinuxNamespaces(l.Namespaces),
		Devices:     api.FromOCILinuxDevices(l.Devices),
		Resources:   api.FromOCILinuxResources(l.Resources, spec.Annotations),
		CgroupsPath: l.CgroupsPath,
		Sysctl:      maps.Clone(l.Sysctl),
	}
	if p := spec.Process; p != nil && p.OOMScoreAdj != nil {
		ctr.Linux.OomScoreAdj = api.Int(*p.OOMScoreAdj)
	}
}

func rlimits(in []specs.POSIXRlimit) []*api.POSIXRlimit {
	var out []*api.POSIXRlimit
	for _, r := range in {
		out = append(out, &api.POSIXRlimit{Type: r.Type, Hard: r.Hard, Soft: r.Soft})
	}
	return out
}

func containerState(s container.State) api.ContainerState {
	switch s {
	case container.StateCreated:
		return api.ContainerState_CONTAINER_CREATED
	case container.StateRunning:
		return api.ContainerState_CONTAINER_RUNNING
	case container.StateExited:
		return api.ContainerState_CONTAINER_STOPPED
	default:
		return api.ContainerState_CONTAINER_UNKNOWN
	}
}
