package sandbox

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
	"github.com/cricket-cri/cricket/pkg/selinux"
)

// The interfaces below are what the sandbox service needs from the layers
// under it. Fakes live in sandbox/sandboxtest; the real ones are adapted in
// cmd/cricketd/internal/daemon.

// NamespacePinner creates namespaces and pins them to files.
type NamespacePinner interface {
	// Pin creates a new namespace of every kind in want and bind-mounts
	// each to a file under dir. Kinds not wanted stay empty.
	Pin(ctx context.Context, dir string, want NamespaceSet) (oci.NamespacePaths, error)
	// Unpin unmounts and removes every namespace Pin pinned under dir
	// (and ends what holds them); missing ones are no error.
	Unpin(ctx context.Context, dir string) error
}

// PodFiles writes the files a pod's containers share.
type PodFiles interface {
	// Write creates the pod's hostname, hosts and resolv.conf files and
	// its /dev/shm under dir, as cfg asks; hosts lists the pod's IPs. For
	// a pod with a user namespace (userns not nil) they belong to its
	// root's host ids (Paths.PodOwned). With SELinux, mountLabel is the
	// pod's mount label: the files get it at level s0, which every
	// container of the pod may read whatever its own level, and the shm
	// tmpfs is mounted with it.
	Write(ctx context.Context, dir string, cfg *runtimeapi.PodSandboxConfig, net NetworkStatus, userns *oci.IDMappings, mountLabel string) (podfiles.Paths, error)
	// Remove unmounts the pod's /dev/shm and removes the files Write
	// made under dir; missing ones are no error.
	Remove(ctx context.Context, dir string) error
}

// Cgroups creates and removes pod cgroups.
type Cgroups interface {
	// Path returns the pod's cgroup path for cfg's cgroup_parent, the
	// parent of the containers' cgroups, and whether the pod is to own it
	// (it does not exist yet); only an owned cgroup is created and
	// removed. It creates nothing: the pod's first record names the cgroup
	// before it exists, so that a crash in between leaks nothing.
	Path(podID string, cfg *runtimeapi.PodSandboxConfig) (path string, owned bool, err error)
	// Create makes the cgroup at path; an existing one is no error.
	Create(ctx context.Context, path string) error
	// Remove deletes the pod's cgroup; a missing one is no error.
	Remove(ctx context.Context, path string) error
}

// ShimPod identifies the pod a shim serves.
type ShimPod struct {
	ID             string
	StateDir       string
	RuntimeHandler string
}

// Shims starts and stops the per-pod shim.
type Shims interface {
	// Start starts the pod's shim, or connects to one already running.
	Start(ctx context.Context, pod ShimPod) error
	// Connect reconnects to the running shim of a pod (after a daemon
	// restart); a shim that is gone is an ErrUnavailable error.
	Connect(ctx context.Context, pod ShimPod) error
	// Stop kills what is left of the pod's containers and ends its shim;
	// a shim that is gone is no error. A pod without ID stands for
	// whichever pod the shim serving its state dir says it serves.
	Stop(ctx context.Context, pod ShimPod) error
	// Alive reports whether the pod's shim process still runs. It must
	// be cheap: it is asked for every ready pod every few seconds.
	Alive(pod ShimPod) bool
}

// NetworkRequest is what the network layer needs to attach a pod.
type NetworkRequest struct {
	PodID  string
	NetNS  string
	Config *runtimeapi.PodSandboxConfig
}

// Network attaches pods to the pod network (CNI).
type Network interface {
	// Setup attaches the pod's network namespace and reports its IPs.
	Setup(ctx context.Context, req NetworkRequest) (NetworkStatus, error)
	// Teardown detaches it; a pod that is not attached is no error.
	Teardown(ctx context.Context, req NetworkRequest) error
}

// Containers is what the sandbox service needs from the container service:
// Stop and Remove of a pod take its containers with it.
type Containers interface {
	// StopPod stops every container of the pod at once (no grace period).
	StopPod(ctx context.Context, podID string) error
	// RemovePod removes every container of the pod.
	RemovePod(ctx context.Context, podID string) error
}

// NoNetwork is the network used until CNI is wired in: the pod keeps the
// empty network namespace it was given.
type NoNetwork struct{}

// Setup does nothing.
func (NoNetwork) Setup(context.Context, NetworkRequest) (NetworkStatus, error) {
	return NetworkStatus{}, nil
}

// Teardown does nothing.
func (NoNetwork) Teardown(context.Context, NetworkRequest) error { return nil }

// NRI relays pod life-cycle events to Node Resource Interface plugins.
// A hook's error fails the request only where noted.
type NRI interface {
	// BlockSync holds back the synchronization of newly connecting
	// plugins until unblock is called, so that a pod being created is
	// either in a plugin's initial state or reported to it.
	BlockSync() (unblock func())
	// RunPodSandbox is called before the pod becomes visible; its error
	// fails Run.
	RunPodSandbox(ctx context.Context, sb *Sandbox) error
	// StopPodSandbox is called once the pod's containers are stopped.
	StopPodSandbox(ctx context.Context, sb *Sandbox) error
	// RemovePodSandbox is called when the pod is removed.
	RemovePodSandbox(ctx context.Context, sb *Sandbox) error
}

// NoNRI is the NRI used when NRI is disabled: every hook does nothing.
type NoNRI struct{}

// BlockSync does nothing.
func (NoNRI) BlockSync() func() { return func() {} }

// RunPodSandbox does nothing.
func (NoNRI) RunPodSandbox(context.Context, *Sandbox) error { return nil }

// StopPodSandbox does nothing.
func (NoNRI) StopPodSandbox(context.Context, *Sandbox) error { return nil }

// RemovePodSandbox does nothing.
func (NoNRI) RemovePodSandbox(context.Context, *Sandbox) error { return nil }

// Labels gives pods their SELinux labels (pkg/selinux.SELinux): a level
// of their own, reserved until the pod is removed.
type Labels interface {
	// PodLabels reserves labels for the pod's options; empty labels
	// without SELinux. Bad options are errdefs.ErrInvalidArgument.
	PodLabels(selinux.Options) (selinux.Labels, error)
	// Reserve marks a recovered pod's labels as used.
	Reserve(selinux.Labels)
	// Release frees a removed pod's labels.
	Release(selinux.Labels)
}

// NoLabels gives no pod a label: a host without SELinux, or tests.
type NoLabels struct{}

// PodLabels implements Labels.
func (NoLabels) PodLabels(selinux.Options) (selinux.Labels, error) { return selinux.Labels{}, nil }

// Reserve implements Labels.
func (NoLabels) Reserve(selinux.Labels) {}

// Release implements Labels.
func (NoLabels) Release(selinux.Labels) {}

// podSELinuxOptions are the pod's SELinuxOption in plain form.
func podSELinuxOptions(cfg *runtimeapi.PodSandboxConfig) selinux.Options {
	o := cfg.GetLinux().GetSecurityContext().GetSelinuxOptions()
	return selinux.Options{User: o.GetUser(), Role: o.GetRole(), Type: o.GetType(), Level: o.GetLevel()}
}
