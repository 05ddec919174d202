// Package runtime is Cricket's boundary with OCI runtimes.
//
// An Executor takes an OCI bundle (a directory holding config.json, the
// runtime-spec document, and usually the rootfs) and runs it. Two kinds of
// handler implement it: the builtin one embeds runc's libcontainer and runs
// inside the pod's shim, and the runccli one drives any binary that speaks
// runc's command line (runc, crun, runsc).
//
// Executors only start processes; they never wait for them. The per-pod shim
// is the child subreaper of everything its containers spawn, and a single
// Reaper in the shim collects every exit (see reaper_linux.go). Handlers hold
// the Reaper while they run children they wait for themselves, so the two
// never steal each other's exit statuses.
package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Handler kinds.
const (
	// KindBuiltin is the embedded libcontainer executor.
	KindBuiltin = "builtin"
	// KindRuncCLI drives an external runc-compatible binary.
	KindRuncCLI = "runccli"
)

// DefaultHandler is the name of the builtin handler; the empty name means it too.
const DefaultHandler = "cricket"

// Stdio is what a new process gets as its standard streams. A nil file means
// /dev/null. The executor duplicates the files into the child; the caller
// keeps ownership and closes its copies once Create or Exec returned.
//
// A process whose spec asks for a terminal gets a pty instead: the streams
// are ignored and OnConsole receives the pty master (output is read from it,
// input written to it) before Create or Exec returns.
type Stdio struct {
	Stdin     *os.File
	Stdout    *os.File
	Stderr    *os.File
	OnConsole func(master *os.File)
}

// Status is the life-cycle phase of a container as its executor sees it.
type Status string

// Statuses, named as in the OCI runtime spec's state document.
const (
	StatusCreated Status = "created"
	StatusRunning Status = "running"
	StatusPaused  Status = "paused"
	StatusStopped Status = "stopped"
)

// State is an executor's view of one container.
type State struct {
	ID     string
	Pid    int
	Status Status
	Bundle string
}

// Executor runs OCI bundles. Every method is safe for concurrent use on
// different containers. Errors wrap pkg/errdefs sentinels where a class fits:
// a container the executor does not know is ErrNotFound.
type Executor interface {
	// Name is the handler name the executor was created under.
	Name() string
	// Create sets up the container described by bundle/config.json up to the
	// point where its process is ready to exec the user's program, and
	// returns the pid of that process (a child of the caller).
	Create(ctx context.Context, id, bundle string, stdio Stdio) (pid int, err error)
	// Start makes a created container exec its program.
	Start(ctx context.Context, id string) error
	// Kill sends sig to the container's init, or with all to every process
	// in its cgroup.
	Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error
	// Delete removes a stopped container's runtime state and cgroup; with
	// force it kills a running one first. A missing container is success.
	Delete(ctx context.Context, id string, force bool) error
	// State reports the container's status.
	State(ctx context.Context, id string) (*State, error)
	// Exec starts an extra process in a running container and returns its
	// pid (a child, or with runccli an orphan reparented to the caller).
	Exec(ctx context.Context, id string, process *specs.Process, stdio Stdio) (pid int, err error)
	// Pids lists the host pids of the container's processes.
	Pids(ctx context.Context, id string) ([]int, error)
	// Update changes the container's cgroup limits.
	Update(ctx context.Context, id string, resources *specs.LinuxResources) error
	// Checkpoint dumps the running container's process tree with CRIU
	// into opts.ImagePath. With opts.LeaveRunning the container runs on
	// afterwards; otherwise CRIU kills it once the dump is complete.
	Checkpoint(ctx context.Context, id string, opts CheckpointOptions) error
	// Restore is Create, then Start, from a checkpoint: it sets up the
	// container described by bundle/config.json and has CRIU restore the
	// process tree of opts.ImagePath into it; the restored init (a child
	// of the caller, or an orphan reparented to it) runs on at once.
	// Containers with a terminal cannot be restored (ErrInvalidArgument).
	Restore(ctx context.Context, id, bundle string, stdio Stdio, opts RestoreOptions) (pid int, err error)
	// Pause freezes every process of a running container (its cgroup's
	// freezer); Resume thaws them.
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
}

// RestoreOptions say where a container's checkpoint is and how to restore
// it.
type RestoreOptions struct {
	// ImagePath holds CRIU's images.
	ImagePath string
	// WorkPath is where CRIU writes its log (restore.log); empty means
	// ImagePath.
	WorkPath string
	// TCPEstablished restores established TCP connections too.
	TCPEstablished bool
}

// CheckpointOptions say where and how a container is checkpointed.
type CheckpointOptions struct {
	// ImagePath is the directory CRIU writes its images to; it is created
	// (0700) when missing.
	ImagePath string
	// WorkPath is the directory CRIU writes its log (dump.log) and its
	// statistics (stats-dump) to; empty means ImagePath.
	WorkPath string
	// LeaveRunning lets the container run on after the dump.
	LeaveRunning bool
	// TCPEstablished dumps established TCP connections too; without it a
	// container with one cannot be checkpointed.
	TCPEstablished bool
}

// Exit is how a process ended, as collected by a Reaper.
type Exit struct {
	Pid int
	// Status is the exit code, or 128 plus the signal number when the
	// process was killed by a signal (the shell convention the CRI uses).
	Status int
	// Signal is the terminating signal, 0 for a normal exit.
	Signal syscall.Signal
	// Time is when the exit was collected.
	Time time.Time
}

// Exits tells a caller when a process it started ends. The real Reaper
// implements it; runtimetest.Executor fakes it.
type Exits interface {
	// Wait returns a channel that receives the exit of pid exactly once. It
	// may be called after the process already exited.
	Wait(pid int) <-chan Exit
}

// Handler names one configured runtime handler.
type Handler struct {
	// Name is the CRI runtime handler name ("" is normalised to DefaultHandler).
	Name string `json:"name"`
	// Kind is KindBuiltin or KindRuncCLI.
	Kind string `json:"kind"`
	// Path is the runtime binary of a runccli handler.
	Path string `json:"path,omitempty"`
}

// Registry maps handler names from the configuration to handlers.
type Registry struct {
	handlers map[string]Handler
}

// NewRegistry builds a registry from name -> binary path pairs. The builtin
// handler is always present under "" and DefaultHandler; a name mapped to
// "builtin" (or an empty path) is another name for it.
func NewRegistry(binaries map[string]string) (*Registry, error) {
	r := &Registry{handlers: map[string]Handler{
		DefaultHandler: {Name: DefaultHandler, Kind: KindBuiltin},
	}}
	for name, path := range binaries {
		if name == "" {
			return nil, fmt.Errorf("runtime handler with empty name: %w", errdefs.ErrInvalidArgument)
		}
		if path == "" || path == KindBuiltin {
			r.handlers[name] = Handler{Name: name, Kind: KindBuiltin}
			continue
		}
		if !filepath.IsAbs(path) {
			return nil, fmt.Errorf("runtime handler %q: binary path %q is not absolute: %w", name, path, errdefs.ErrInvalidArgument)
		}
		r.handlers[name] = Handler{Name: name, Kind: KindRuncCLI, Path: path}
	}
	return r, nil
}

// Lookup returns the handler called name; "" is the builtin default. An
// unknown name is ErrNotFound.
func (r *Registry) Lookup(name string) (Handler, error) {
	if name == "" {
		name = DefaultHandler
	}
	h, ok := r.handlers[name]
	if !ok {
		return Handler{}, fmt.Errorf("runtime handler %q: %w", name, errdefs.ErrNotFound)
	}
	return h, nil
}

// Handlers lists the configured handlers sorted by name.
func (r *Registry) Handlers() []Handler {
	out := make([]Handler, 0, len(r.handlers))
	for _, h := range r.handlers {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Options configure an executor inside the shim.
type Options struct {
	// Root is the directory for the handler's own state (libcontainer's
	// state dir, runc's --root). It is created if missing.
	Root string
	// Reaper collects the exits of the processes the executor starts.
	Reaper *Reaper
	// SystemdCgroup selects the systemd cgroup driver; otherwise cgroupfs.
	SystemdCgroup bool
}

// New creates the executor for h.
func New(h Handler, opts Options) (Executor, error) {
	if opts.Root == "" {
		return nil, fmt.Errorf("runtime handler %q: no state root: %w", h.Name, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(opts.Root, 0o711); err != nil {
		return nil, fmt.Errorf("create runtime root %s: %w", opts.Root, err)
	}
	switch h.Kind {
	case KindBuiltin:
		return newBuiltin(h.Name, opts)
	case KindRuncCLI:
		return newRuncCLI(h.Name, h.Path, opts)
	}
	return nil, fmt.Errorf("runtime handler %q: kind %q: %w", h.Name, h.Kind, errdefs.ErrNotFound)
}

// LoadSpec reads bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("bundle %s: config.json: %w", bundle, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read OCI spec of bundle %s: %w", bundle, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("parse OCI spec of bundle %s: %w: %w", bundle, err, errdefs.ErrInvalidArgument)
	}
	return &spec, nil
}

// restorableSpec loads the bundle's spec for a restore, refusing what no
// executor can restore: no CRIU image path, no process, or a terminal.
func restorableSpec(id, bundle string, opts RestoreOptions) (*specs.Spec, error) {
	if opts.ImagePath == "" {
		return nil, fmt.Errorf("restore of container %s: no image path: %w", id, errdefs.ErrInvalidArgument)
	}
	spec, err := LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	if spec.Process == nil || spec.Process.Terminal {
		return nil, fmt.Errorf("restore of container %s: a container without a process or with a terminal cannot be restored: %w", id, errdefs.ErrInvalidArgument)
	}
	return spec, nil
}

// WriteSpec writes spec as bundle/config.json (tests and tools use it; the
// container service writes bundles itself).
func WriteSpec(bundle string, spec *specs.Spec) error {
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("encode OCI spec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("write OCI spec of bundle %s: %w", bundle, err)
	}
	return nil
}

// OwnsPidNamespace reports whether spec gives the container a pid namespace
// of its own. Only then does the kernel end every other process of the
// container when its init exits; a container in its pod's pid namespace (a
// namespace joined by path) or in the host's (no pid namespace) keeps what
// its init left running.
func OwnsPidNamespace(spec *specs.Spec) bool {
	if spec == nil || spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}
