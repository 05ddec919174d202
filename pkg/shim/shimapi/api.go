// Package shimapi is the protocol between cricketd and its per-pod shims:
// the requests and replies of the shim's API, the records the shim persists
// and the daemon reads back, the frames of the stream socket, the layout of
// the pod state dir the shim serves, and the coding of errors across the
// socket. Both sides link it: the daemon through pkg/shim/shimclient, the
// shim process (cmd/cricket-shim) through pkg/shim/shimserver. It holds no
// logic of either side.
//
// One shim runs per pod sandbox. cricketd starts it as "cricket-shim __shim
// --pod ID --state DIR"; the shim moves into its own session, becomes the
// child subreaper of everything its containers spawn, and keeps running when
// cricketd exits or is killed. It owns the containers' stdio, writes their
// logs in the CRI format, reaps their processes, records every exit
// atomically on disk, and serves the API on DIR/shim.sock. A restarted
// cricketd reconnects and reconciles with State/List and, for a shim that is
// gone, the exit records.
//
// The API is plain net/rpc (gob over a unix socket): it is in the standard
// library, adds no generated code and keeps the shim's resident memory small.
package shimapi

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

// Arg is os.Args[1] of the shim process.
const Arg = "__shim"

// The pod state dir, as the two sides share it. The daemon creates the dir
// and the shim's log; the shim the rest (its lock and its executors' state
// are its own business, see pkg/shim/shimserver).
const (
	socketName = "shim.sock"
	pidName    = "shim.pid"
	logName    = "shim.log"
	storeName  = "shim"
)

// SocketPath is the shim's API socket for the pod state dir.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, socketName) }

// PidPath is the file the shim writes its pid to once it serves.
func PidPath(stateDir string) string { return filepath.Join(stateDir, pidName) }

// LogPath is the shim's own stdout and stderr, which the daemon opens for it.
func LogPath(stateDir string) string { return filepath.Join(stateDir, logName) }

// StoreDir holds the records the shim persists (pkg/store, volatile): the
// state of each container in BucketContainers and its exit in BucketExits,
// both keyed by container id and written at RecordVersion. The daemon reads
// them back when the shim is gone.
func StoreDir(stateDir string) string { return stateDir + "/" + storeName }

// Record buckets and version under StoreDir.
const (
	BucketContainers = "containers"
	BucketExits      = "exits"
	RecordVersion    = 1
)

// ServiceName is the net/rpc service the shim registers: a method M is
// called as ServiceName+".M".
const ServiceName = "Shim"

// MaxBlock bounds how long one blocking call (Wait, Events) holds the
// connection; clients loop, so an abandoned call costs the shim little.
const MaxBlock = 30 * time.Second

// Status is a container's life-cycle phase as the shim tracks it.
type Status string

// Container statuses.
const (
	StatusCreated Status = "created"
	StatusRunning Status = "running"
	StatusExited  Status = "exited"
)

// CreateRequest asks the shim to create a container from an OCI bundle.
type CreateRequest struct {
	ID     string
	Bundle string
	// Handler is the runtime handler resolved by the daemon's registry.
	Handler runtime.Handler
	// LogPath is the CRI log file; empty discards output.
	LogPath string
	// LogDir is the pod's log directory, which LogPath must lie below; the
	// file is opened without resolving anything outside it. Empty means
	// LogPath's parent.
	LogDir string
	// Stdin keeps a pipe to the container's stdin open (for attach);
	// otherwise stdin is /dev/null.
	Stdin bool
	// Terminal asks for a pty; not supported yet.
	Terminal bool
	// Restore, when set, restores the container's process tree from a
	// CRIU checkpoint instead of creating a new process: the restored
	// process runs from Create on, and Start only records it as started.
	Restore *runtime.RestoreOptions
}

// ContainerState is the shim's record of one container. It is also what the
// shim persists in StateDir/shim/containers/<id>.json.
type ContainerState struct {
	ID        string
	Bundle    string
	Handler   runtime.Handler
	LogPath   string
	Pid       int
	Status    Status
	CreatedAt time.Time
	StartedAt time.Time
	Exit      *ExitRecord
	// Adopted marks a container this shim took over from a shim that died:
	// its output is lost and its exit code is unknown (ExitUnknown).
	Adopted bool
}

// ExitUnknown is the exit code recorded for an adopted container, whose
// real exit status went to another process.
const ExitUnknown = 255

// ExitRecord is how a container's init ended. The shim writes it atomically
// to StateDir/shim/exits/<id>.json before it reports the exit to anyone.
type ExitRecord struct {
	ID       string
	Pid      int
	ExitCode int
	// Signal is the signal that killed the init, 0 after a normal exit.
	Signal    int
	OOMKilled bool
	ExitedAt  time.Time
}

// KillRequest signals a container.
type KillRequest struct {
	ID     string
	Signal syscall.Signal
	// All signals every process of the container, not just its init.
	All bool
}

// DeleteRequest removes a container.
type DeleteRequest struct {
	ID string
	// Force kills a container that still runs.
	Force bool
}

// ExecRequest runs a process in a running container and captures its output.
type ExecRequest struct {
	ID      string
	Process *specs.Process
	// Stdin is fed to the process, then closed.
	Stdin []byte
	// Timeout kills the process when it runs longer; 0 means no limit.
	Timeout time.Duration
	// MaxOutput caps the bytes kept of each stream; 0 means DefaultMaxOutput.
	MaxOutput int
}

// DefaultMaxOutput caps each captured stream of an exec (16 MiB, like the
// kubelet's own limit for exec probes).
const DefaultMaxOutput = 16 << 20

// ExecResult is the outcome of an exec.
type ExecResult struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
	// TimedOut is set when the process was killed at the timeout.
	TimedOut bool
	// Truncated is set when output beyond MaxOutput was dropped.
	Truncated bool
}

// UpdateRequest changes a container's resources.
type UpdateRequest struct {
	ID        string
	Resources *specs.LinuxResources
}

// CheckpointRequest dumps a running container with CRIU.
type CheckpointRequest struct {
	ID      string
	Options runtime.CheckpointOptions
}

// EventType names what happened to a container.
type EventType string

// Event types.
const (
	EventCreated EventType = "created"
	EventStarted EventType = "started"
	EventExited  EventType = "exited"
	EventDeleted EventType = "deleted"
)

// Event is one change of a container's state. Seq increases by one per
// event within one shim's lifetime.
type Event struct {
	Seq       uint64
	Type      EventType
	ID        string
	Pid       int
	ExitCode  int
	OOMKilled bool
	Time      time.Time
}

// EventsRequest asks for the events after Seq, waiting up to Wait for one.
type EventsRequest struct {
	After uint64
	Wait  time.Duration
}

// EventsResponse carries events in order; Next is the Seq to ask after next.
type EventsResponse struct {
	Events []Event
	Next   uint64
}

// Info describes the shim process.
type Info struct {
	PodID    string
	Pid      int
	StateDir string
}

// ShutdownRequest stops the shim.
type ShutdownRequest struct {
	// Force kills and deletes the containers that are left; otherwise a
	// shim with containers that are not exited refuses.
	Force bool
}

// Empty is the argument or reply of calls that carry none.
type Empty struct{}

// IDRequest names one container.
type IDRequest struct{ ID string }

// WaitRequest waits for a container's exit for at most Timeout (capped at
// MaxBlock); the reply's Status tells whether it exited.
type WaitRequest struct {
	ID      string
	Timeout time.Duration
}

// PidsResponse lists host pids.
type PidsResponse struct{ Pids []int }

// ListResponse lists containers.
type ListResponse struct{ Containers []ContainerState }

// Errors cross the socket as text; the sentinel class travels as a prefix so
// the client can re-wrap it and the daemon maps it to the right gRPC code.
var errClasses = []struct {
	prefix string
	err    error
}{
	{"notfound", errdefs.ErrNotFound},
	{"alreadyexists", errdefs.ErrAlreadyExists},
	{"invalidargument", errdefs.ErrInvalidArgument},
	{"failedprecondition", errdefs.ErrFailedPrecondition},
	{"unavailable", errdefs.ErrUnavailable},
	{"notimplemented", errdefs.ErrNotImplemented},
	{"resourceexhausted", errdefs.ErrResourceExhausted},
	{"permissiondenied", errdefs.ErrPermissionDenied},
}

// EncodeError turns err into the error a net/rpc method returns: its text
// with its errdefs class as a prefix. nil stays nil.
func EncodeError(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range errClasses {
		if errors.Is(err, c.err) {
			return errors.New(c.prefix + "|" + err.Error())
		}
	}
	return errors.New("|" + err.Error())
}

// DecodeError turns the text of an error EncodeError made back into an
// error with the same text that errors.Is matches against its class.
func DecodeError(msg string) error {
	class, text, ok := strings.Cut(msg, "|")
	if !ok {
		return fmt.Errorf("shim: %s", msg)
	}
	for _, c := range errClasses {
		if c.prefix == class {
			return &remoteError{msg: text, class: c.err}
		}
	}
	return &remoteError{msg: text}
}

// remoteError is an error from the shim: its text as the shim had it, and
// its class for errors.Is.
type remoteError struct {
	msg   string
	class error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.class }
