package oci

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// IDMappings are the uid and gid mappings of a pod's user namespace.
type IDMappings struct {
	UIDs []specs.LinuxIDMapping `json:"uids"`
	GIDs []specs.LinuxIDMapping `json:"gids"`
}

// RootUID and RootGID are the host ids container root is mapped to.
func (m IDMappings) RootUID() uint32 { return m.UIDs[0].HostID }

// RootGID is the host gid container root's group is mapped to.
func (m IDMappings) RootGID() uint32 { return m.GIDs[0].HostID }

// PodUserNamespace validates the user namespace a pod asks for and returns
// its mappings, or nil for the host's user namespace. As the CRI says:
// absent options and mode NODE mean the host's (NODE with mappings is
// refused); CONTAINER and TARGET are not supported; mode POD needs exactly
// one uid and one gid mapping, each starting at container id 0, and a
// handler that supports user namespaces. A pod in its own user namespace
// must own its IPC and PID namespaces too: the host's are not owned by
// it, so its containers could not mount mqueue or /proc there. It may use
// the host's network (KEP-5607, RuntimeFeatures.user_namespaces_host_network):
// its containers then bind the host's /sys (WithNamespaces).
func PodUserNamespace(o *runtimeapi.NamespaceOption, supported bool) (*IDMappings, error) {
	u := o.GetUsernsOptions()
	if u == nil {
		return nil, nil
	}
	switch u.GetMode() {
	case runtimeapi.NamespaceMode_NODE:
		if len(u.GetUids())+len(u.GetGids()) > 0 {
			return nil, invalid("user namespace mode NODE takes no id mappings")
		}
		return nil, nil
	case runtimeapi.NamespaceMode_POD:
	default:
		return nil, invalid("user namespace mode %s is not supported (only POD and NODE)", u.GetMode())
	}
	if !supported {
		return nil, invalid("user namespaces are not supported by the runtime handler")
	}
	if err := checkIDMappings("uid", u.GetUids()); err != nil {
		return nil, err
	}
	if err := checkIDMappings("gid", u.GetGids()); err != nil {
		return nil, err
	}
	for _, h := range []struct {
		field string
		mode  runtimeapi.NamespaceMode
	}{{"ipc", o.GetIpc()}, {"pid", o.GetPid()}} {
		if h.mode == runtimeapi.NamespaceMode_NODE {
			return nil, invalid("%s namespace mode NODE cannot be combined with a pod user namespace", h.field)
		}
	}
	return &IDMappings{UIDs: idMappings(u.GetUids()), GIDs: idMappings(u.GetGids())}, nil
}

// containerUserNamespace is the user namespace a container gets: always
// its pod's. A container that names another one (a different mode or
// different mappings) is refused; one that names none joins the pod's.
func containerUserNamespace(ctr, pod *runtimeapi.NamespaceOption) (*IDMappings, error) {
	if _, err := PodUserNamespace(pod, true); err != nil {
		return nil, err
	}
	// The pod's user namespace with the container's other modes: a
	// container may not use a host namespace its pod could not.
	want, err := PodUserNamespace(&runtimeapi.NamespaceOption{
		Network: ctr.GetNetwork(), Ipc: ctr.GetIpc(), Pid: ctr.GetPid(), UsernsOptions: pod.GetUsernsOptions(),
	}, true)
	if err != nil {
		return nil, err
	}
	if want != nil && ctr.GetNetwork() == runtimeapi.NamespaceMode_NODE && pod.GetNetwork() != runtimeapi.NamespaceMode_NODE {
		return nil, invalid("container on the host network in a pod with its own user and network namespaces")
	}
	u := ctr.GetUsernsOptions()
	if u == nil {
		return want, nil
	}
	got, err := PodUserNamespace(&runtimeapi.NamespaceOption{UsernsOptions: u}, true)
	if err != nil {
		return nil, err
	}
	if !sameIDMappings(got, want) {
		return nil, invalid("container user namespace (%v) differs from its pod's (%v)", u, pod.GetUsernsOptions())
	}
	return want, nil
}

func sameIDMappings(a, b *IDMappings) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.Equal(a.UIDs, b.UIDs) && slices.Equal(a.GIDs, b.GIDs)
}

func checkIDMappings(kind string, m []*runtimeapi.IDMapping) error {
	if len(m) != 1 {
		return invalid("user namespace needs exactly one %s mapping, got %d", kind, len(m))
	}
	switch {
	case m[0].GetContainerId() != 0:
		return invalid("user namespace %s mapping must start at container id 0, got %d", kind, m[0].GetContainerId())
	case m[0].GetLength() == 0:
		return invalid("user namespace %s mapping has length 0", kind)
	case uint64(m[0].GetHostId())+uint64(m[0].GetLength()) > 1<<32-1:
		return invalid("user namespace %s mapping %d+%d overflows", kind, m[0].GetHostId(), m[0].GetLength())
	}
	return nil
}

// withUserNamespace puts the container in the pod's user namespace: it
// joins the pinned file and states the mappings, which runtimes check
// against the namespace's (runc) or need for their own id arithmetic.
func withUserNamespace(s *specs.Spec, m *IDMappings, path string, f Features) error {
	if m == nil {
		return nil
	}
	if !f.UserNamespaces {
		return invalid("user namespaces are not supported by the runtime handler")
	}
	if path == "" {
		return invalid("the pod has no user namespace to join")
	}
	s.Linux.UIDMappings = slices.Clone(m.UIDs)
	s.Linux.GIDMappings = slices.Clone(m.GIDs)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: path})
	return nil
}

// idmapBindMounts maps every bind mount that has no mappings of its own
// through the pod's user namespace (an idmapped mount), so that what root
// owns on the host, root owns in the container, without a chown. The
// destinations in skip are left alone.
func idmapBindMounts(ms []specs.Mount, m *IDMappings, skip map[string]bool) {
	if m == nil {
		return
	}
	for i := range ms {
		if ms[i].Type != "bind" || skip[ms[i].Destination] || len(ms[i].UIDMappings)+len(ms[i].GIDMappings) > 0 {
			continue
		}
		ms[i].UIDMappings = slices.Clone(m.UIDs)
		ms[i].GIDMappings = slices.Clone(m.GIDs)
	}
}
