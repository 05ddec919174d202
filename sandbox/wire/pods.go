// Package wire builds the pod and container services over the real lower
// layers (namespaces, pod files, cgroups, the per-pod shim, images,
// snapshots, OCI specs) and adapts each to the narrow interface its
// consumer declares.
package wire

import (
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// Pods lets the container service look pods up in the sandbox service.
type Pods struct {
	Sandboxes *sandbox.Service
}

// Pod returns the pod sandbox id as the container service sees it.
func (p Pods) Pod(id string) (container.Pod, error) {
	sb, err := p.Sandboxes.Get(id)
	if err != nil {
		return container.Pod{}, err
	}
	return PodOf(sb), nil
}

// PodOf converts a sandbox to what its containers need.
func PodOf(sb *sandbox.Sandbox) container.Pod {
	return container.Pod{
		ID:             sb.ID,
		StateDir:       sb.StateDir,
		RuntimeHandler: sb.RuntimeHandler,
		Config:         sb.Config,
		Namespaces: oci.NamespacePaths{
			Network: sb.Namespaces.Network,
			IPC:     sb.Namespaces.IPC,
			UTS:     sb.Namespaces.UTS,
			PID:     sb.Namespaces.PID,
			User:    sb.Namespaces.User,
		},
		Files: oci.PodFiles{
			Hostname:   sb.Files.Hostname,
			Hosts:      sb.Files.Hosts,
			ResolvConf: sb.Files.ResolvConf,
			Shm:        sb.Files.Shm,
		},
		CgroupParent: sb.CgroupPath,
		Ready:        sb.Status().State == sandbox.StateReady,
	}
}
