// Package sandbox runs pod sandboxes: a set of Linux namespaces pinned to
// files (no pause process), the pod's files (hostname, hosts, resolv.conf,
// /dev/shm), its cgroup, its network and its shim. Containers live in a
// sandbox; package sandbox/container runs them.
//
// A Sandbox is immutable Metadata plus a Status that changes only through
// Sandbox.update, which checks the state transition and persists the record
// before the change becomes visible.
package sandbox

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
	"github.com/cricket-cri/cricket/pkg/selinux"
)

// State is the life-cycle phase of a pod sandbox.
type State string

// Sandbox states.
const (
	// StateReady: namespaces, network, cgroup and shim are up.
	StateReady State = "ready"
	// StateNotReady: stopped, or found broken after a restart.
	StateNotReady State = "notready"
	// stateCreating marks the record Run writes before its first side
	// effect; a restart that finds one tears the half-made pod down. Such
	// a sandbox is never listed.
	stateCreating State = "creating"
)

// NamespaceSet says which namespaces a pod needs of its own.
type NamespaceSet struct {
	Network, IPC, UTS, PID bool
	// Hostname is set in a new UTS namespace.
	Hostname string
	// User, when set, asks for a user namespace with these mappings that
	// owns the other new namespaces.
	User *oci.IDMappings
	// ProcessLabel is the SELinux label the pod init (the process that
	// holds a pid or user namespace) runs at: the pod's process label, as
	// containerd runs its pause container, so that the pod's containers
	// may read it at PID 1 of their shared pid namespace. Empty without
	// SELinux and for a privileged pod.
	ProcessLabel string
}

// NetworkStatus is what the network layer reported for the pod.
type NetworkStatus struct {
	IP            string   `json:"ip,omitempty"`
	AdditionalIPs []string `json:"additionalIPs,omitempty"`
}

// Metadata is fixed once the sandbox exists.
type Metadata struct {
	ID   string
	Name string
	// Config is the CRI config the pod was created with; never modified.
	Config         *runtimeapi.PodSandboxConfig
	RuntimeHandler string
	// StateDir holds the pod's volatile files: pinned namespaces, pod
	// files, the shim's socket and records.
	StateDir string
	// Namespaces are the pod's pinned namespaces.
	Namespaces oci.NamespacePaths
	// Files are the pod's hostname, hosts, resolv.conf and /dev/shm.
	Files podfiles.Paths
	// CgroupPath is the pod cgroup, the parent of its containers' cgroups.
	CgroupPath string
	// CgroupOwned is set when Run created the pod cgroup (rather than
	// found the kubelet's); only an owned cgroup is removed.
	CgroupOwned bool
	Network     NetworkStatus
	CreatedAt   time.Time
	// SELinux are the pod's labels, whose MCS level its containers share;
	// empty without SELinux.
	SELinux selinux.Labels
}

// Status is the mutable part of a sandbox.
type Status struct {
	State State `json:"state"`
	// StoppedAt is when the sandbox became NotReady.
	StoppedAt time.Time `json:"stoppedAt,omitzero"`
	// TornDown: a stop released everything the pod held (shim, network,
	// files, namespaces, cgroup), so a later Stop or Remove need not
	// again. A pod marked NotReady because its shim died is not torn down.
	TornDown bool `json:"tornDown,omitempty"`
}

// Sandbox is one pod sandbox.
type Sandbox struct {
	Metadata

	// op serialises Stop and Remove of this sandbox; never held while
	// waiting on another sandbox.
	op sync.Mutex

	mu      sync.RWMutex
	status  Status
	persist func(Metadata, Status) error
}

func newSandbox(md Metadata, st Status, persist func(Metadata, Status) error) *Sandbox {
	return &Sandbox{Metadata: md, status: st, persist: persist}
}

// Status returns a copy of the sandbox's status.
func (sb *Sandbox) Status() Status {
	sb.mu.RLock()
	defer sb.mu.RUnlock()
	return sb.status
}

// update applies fn to the status, checks the transition, persists the
// record and only then publishes the new status.
func (sb *Sandbox) update(fn func(Status) (Status, error)) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	next, err := fn(sb.status)
	if err != nil {
		return err
	}
	if next == sb.status {
		return nil
	}
	if err := checkTransition(sb.status.State, next.State); err != nil {
		return fmt.Errorf("pod sandbox %s: %w", sb.ID, err)
	}
	if err := sb.persist(sb.Metadata, next); err != nil {
		return err
	}
	sb.status = next
	return nil
}

func checkTransition(from, to State) error {
	if from == to || (from == StateReady && to == StateNotReady) {
		return nil
	}
	return fmt.Errorf("state %s cannot become %s: %w", from, to, errdefs.ErrFailedPrecondition)
}

// Name is the name a pod sandbox is registered under: its metadata's name,
// namespace, uid and attempt.
func Name(md *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{md.GetName(), md.GetNamespace(), md.GetUid(), strconv.FormatUint(uint64(md.GetAttempt()), 10)}, "_")
}

// Filter selects sandboxes in List; zero fields match everything.
type Filter struct {
	// ID is a full ID or a unique prefix.
	ID     string
	State  *State
	Labels map[string]string
}
