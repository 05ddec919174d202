// Package container runs the containers of pod sandboxes: an overlay rootfs
// from the image's layers, an OCI bundle built from the CRI and image
// configs, and a process started, watched and stopped through the pod's
// shim.
//
// A Container is immutable Metadata plus a Status that changes only through
// Container.update, which checks the state transition and persists the
// record before the change becomes visible.
package container

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

// State is the life-cycle phase of a container.
type State string

// Container states.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	// stateCreating marks the record Create writes before mounting the
	// rootfs; a restart that finds one removes the half-made container.
	stateCreating State = "creating"
)

// Exit reasons reported in the status.
const (
	ReasonCompleted  = "Completed"
	ReasonError      = "Error"
	ReasonOOMKilled  = "OOMKilled"
	ReasonStartError = "StartError"
	// ReasonUnknown: the container's end was not observed (its shim
	// vanished with its records).
	ReasonUnknown = "Unknown"
)

// Exit codes the runtime reports when the process's own is not known.
const (
	exitCodeStartError = 128
	exitCodeUnknown    = 255
)

// Metadata is fixed once the container exists.
type Metadata struct {
	ID    string
	Name  string
	PodID string
	// Config is the CRI config the container was created with.
	Config *runtimeapi.ContainerConfig
	Image  Image
	// Bundle is the OCI bundle directory; Rootfs is mounted inside it.
	Bundle string
	Rootfs string
	// LogPath is the absolute CRI log path, empty when the kubelet asked
	// for none.
	LogPath string
	// ImageVolumes are the images mounted into the container.
	ImageVolumes []ImageVolume
	// Process is the container's process from its OCI spec; execs run
	// with its identity, environment and security settings.
	Process    *specs.Process
	StopSignal syscall.Signal
	CreatedAt  time.Time
	// Restore is set for a container created from a checkpoint archive:
	// Start restores its process from these CRIU images, unpacked in the
	// bundle, rather than running a new one.
	Restore *runtime.RestoreOptions
}

// Status is the mutable part of a container.
type Status struct {
	State      State     `json:"state"`
	Pid        int       `json:"pid,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	ExitCode   int32     `json:"exitCode"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	// Resources are the container's resources after an Update; nil means
	// the ones of its config. The message is replaced, never changed.
	Resources *runtimeapi.LinuxContainerResources `json:"resources,omitempty"`
}

// Container is one container.
type Container struct {
	Metadata

	// op serialises Start, Stop and Remove of this container.
	op sync.Mutex

	mu      sync.RWMutex
	status  Status
	persist func(Metadata, Status) error
	// exited is closed when the status becomes Exited.
	exited chan struct{}
	// removed is set under op once Remove finished.
	removed bool
	// changed, when set, is told of every state transition after it is
	// visible and before Exited is closed.
	changed func(c *Container, from, to State)
}

func newContainer(md Metadata, st Status, persist func(Metadata, Status) error) *Container {
	c := &Container{Metadata: md, status: st, persist: persist, exited: make(chan struct{})}
	if st.State == StateExited {
		close(c.exited)
	}
	return c
}

// Status returns a copy of the container's status.
func (c *Container) Status() Status {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.status
}

// Exited is closed once the container has exited.
func (c *Container) Exited() <-chan struct{} { return c.exited }

// update applies fn to the status, checks the transition, persists the
// record and only then publishes the new status.
func (c *Container) update(fn func(Status) (Status, error)) error {
	c.mu.Lock()
	from := c.status.State
	next, err := fn(c.status)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if next == c.status {
		c.mu.Unlock()
		return nil
	}
	if err := checkTransition(c.status.State, next.State); err != nil {
		c.mu.Unlock()
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	if err := c.persist(c.Metadata, next); err != nil {
		c.mu.Unlock()
		return err
	}
	c.status = next
	c.mu.Unlock()
	// The event goes out before anyone waiting on Exited learns of the
	// exit, so that STOPPED always precedes a DELETED that follows it.
	if c.changed != nil && from != next.State {
		c.changed(c, from, next.State)
	}
	if next.State == StateExited && from != StateExited {
		close(c.exited)
	}
	return nil
}

var transitions = map[State][]State{
	StateCreated: {StateRunning, StateExited},
	StateRunning: {StateExited},
}

func checkTransition(from, to State) error {
	if from == to {
		return nil
	}
	for _, ok := range transitions[from] {
		if ok == to {
			return nil
		}
	}
	return fmt.Errorf("state %s cannot become %s: %w", from, to, errdefs.ErrFailedPrecondition)
}

// Exit is how a container's process ended.
type Exit struct {
	Code      int32
	Signal    int
	OOMKilled bool
	At        time.Time
}

// exited returns st after the process ended with e.
func exited(st Status, e Exit) Status {
	st.State = StateExited
	st.FinishedAt = e.At
	if st.FinishedAt.IsZero() {
		st.FinishedAt = time.Now()
	}
	st.ExitCode = e.Code
	switch {
	case e.OOMKilled:
		st.Reason = ReasonOOMKilled
	case e.Code == 0:
		st.Reason = ReasonCompleted
	default:
		st.Reason = ReasonError
	}
	return st
}

// Name is the name a container is registered under: its own metadata's
// name and attempt plus the pod's name, namespace and uid.
func Name(md *runtimeapi.ContainerMetadata, pod *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{
		md.GetName(), pod.GetName(), pod.GetNamespace(), pod.GetUid(), strconv.FormatUint(uint64(md.GetAttempt()), 10),
	}, "_")
}

// Filter selects containers in List; zero fields match everything.
type Filter struct {
	// ID is a full ID or a unique prefix.
	ID     string
	PodID  string
	State  *State
	Labels map[string]string
}
