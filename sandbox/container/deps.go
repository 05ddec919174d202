package container

import (
	"context"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/selinux"
)

// The interfaces below are what the container service needs from the
// layers around it. Fakes live in sandbox/container/containertest; the real
// ones are adapted in cmd/cricketd/internal/daemon.

// Pod is what a container needs of its pod sandbox.
type Pod struct {
	ID             string
	StateDir       string
	RuntimeHandler string
	Config         *runtimeapi.PodSandboxConfig
	Namespaces     oci.NamespacePaths
	Files          podfiles.Paths
	// CgroupParent is the pod's cgroup, the parent of its containers'.
	CgroupParent string
	Ready        bool
	// SELinux are the pod's labels: its containers share their level.
	SELinux selinux.Labels
}

// Pods looks pod sandboxes up.
type Pods interface {
	// Pod returns the pod sandbox id; a missing one is ErrNotFound.
	Pod(id string) (Pod, error)
}

// Image is a resolved, pulled image.
type Image struct {
	// ID is the image ID (its config digest).
	ID string
	// Ref is the reference the container asked for, as given (the kubelet
	// gives the image ID).
	Ref string
	// Name is the image's first repo tag when it has one: what
	// ContainerStatus reports as its image, as containerd does.
	Name string
	// RepoRef is the image's repo digest when known, else its ID: what
	// ContainerStatus reports as image_ref.
	RepoRef string
	// TopChainID is the layer a rootfs stands on; empty for no layers.
	TopChainID string
	Config     oci.ImageConfig
	// ArtifactDir, for an OCI artifact (KEP-4639), is the directory of its
	// files that an image volume of it bind-mounts; a container cannot
	// run one.
	ArtifactDir string `json:",omitempty"`
	// CheckpointDir, for an image made from a container checkpoint (the
	// annotation CRI-O and containerd recognise), is the directory of the
	// checkpoint's files (its layer): a container created from the image
	// is restored from them, on the image the checkpoint was taken from.
	CheckpointDir string `json:",omitempty"`
}

// Images resolves image references to pulled images.
type Images interface {
	// Resolve returns the pulled image ref names; an image that is not
	// pulled is ErrNotFound.
	// handler is the pod's runtime handler: images are kept per
	// handler platform (KEP-4216).
	Resolve(ctx context.Context, ref, handler string) (Image, error)
}

// Rootfs prepares and mounts container root filesystems.
type Rootfs interface {
	// Mount creates the writable layer key over img's layers and mounts
	// the rootfs on target; for an artifact it binds its ArtifactDir.
	// mountLabel, when set, is the SELinux label the container sees its
	// files with (the mount's context).
	Mount(ctx context.Context, key string, img Image, target, mountLabel string) error
	// MountIDMapped is Mount for a container in the user namespace idm:
	// the image's files appear with their on-disk owners inside it.
	MountIDMapped(ctx context.Context, key string, img Image, target, mountLabel string, idm RootfsIDMap) error
	// Unmount unmounts target and removes the writable layer key; missing
	// ones are no error.
	Unmount(ctx context.Context, key, target string) error
	// UpperDir is the directory holding the changes written to the
	// writable layer key (the overlay upper dir).
	UpperDir(key string) (string, error)
}

// RootfsIDMap is the pod user namespace a rootfs is idmapped through.
type RootfsIDMap struct {
	// UsernsPath is the pod's pinned user namespace.
	UsernsPath string
	// RootUID and RootGID are the host ids of the namespace's root.
	RootUID, RootGID uint32
}

// SpecInput is what the spec builder needs to build a container's spec.
type SpecInput struct {
	ID     string
	Config *runtimeapi.ContainerConfig
	Pod    Pod
	Image  Image
	// Rootfs is the mounted rootfs, for user lookup and the spec's root.
	Rootfs string
	// TargetPIDNamespace is the pid namespace of the target container of
	// pid mode TARGET.
	TargetPIDNamespace string
	// MountSources maps the container path of each image volume to the
	// host path to bind-mount.
	MountSources map[string]string
	// SELinux are the container's labels (SpecBuilder.SELinuxLabels), with
	// which its rootfs is mounted; empty without SELinux.
	SELinux selinux.Labels
}

// SpecBuilder builds OCI runtime specs.
type SpecBuilder interface {
	// SELinuxLabels are the container's SELinux labels, known before its
	// rootfs is mounted (with the mount label); empty without SELinux.
	// Invalid options are an ErrInvalidArgument error.
	SELinuxLabels(ctx context.Context, cfg *runtimeapi.ContainerConfig, pod Pod) (selinux.Labels, error)
	// Build returns the container's OCI spec; an invalid config is an
	// ErrInvalidArgument error.
	Build(ctx context.Context, in SpecInput) (*specs.Spec, error)
}

// ShimCreate asks a shim to create a container's process.
type ShimCreate struct {
	ID             string
	Bundle         string
	RuntimeHandler string
	LogPath        string
	// LogDir is the pod's log directory; LogPath lies below it and is
	// opened without resolving anything outside it.
	LogDir   string
	Stdin    bool
	Terminal bool
	// Restore, when set, has the shim restore the process from this
	// checkpoint rather than create it.
	Restore *runtime.RestoreOptions
}

// ProcessState is a shim's view of a container's process.
type ProcessState struct {
	Pid       int
	StartedAt time.Time
	Running   bool
	// Exit is set once the process ended.
	Exit *Exit
}

// ExecRequest runs a command in a running container.
type ExecRequest struct {
	ID        string
	Process   *specs.Process
	Timeout   time.Duration
	MaxOutput int
}

// ExecResult is the outcome of an exec.
type ExecResult struct {
	ExitCode int32
	Stdout   []byte
	Stderr   []byte
	TimedOut bool
}

// Shim is a client of one pod's shim.
type Shim interface {
	// Create creates the container's process from its bundle; it runs
	// the user's program only after Start.
	Create(ctx context.Context, req ShimCreate) error
	// Start starts a created container and returns its state.
	Start(ctx context.Context, id string) (ProcessState, error)
	// Kill signals the container's init, or with all every process.
	Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error
	// Delete removes the container from the shim, killing it if needed;
	// an unknown one is no error.
	Delete(ctx context.Context, id string) error
	// Wait blocks until the container exited and returns how.
	Wait(ctx context.Context, id string) (Exit, error)
	// State returns the container's process state; an unknown container
	// is ErrNotFound.
	State(ctx context.Context, id string) (ProcessState, error)
	// Exec runs a process in the container and captures its output.
	Exec(ctx context.Context, req ExecRequest) (ExecResult, error)
	// ReopenLog reopens the container's log file.
	ReopenLog(ctx context.Context, id string) error
	// Update replaces the cgroup resources of a running container.
	Update(ctx context.Context, id string, resources *specs.LinuxResources) error
	// Checkpoint dumps a running container with CRIU.
	Checkpoint(ctx context.Context, id string, opts runtime.CheckpointOptions) error
	// Pause freezes a running container's processes; Resume thaws them.
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
}

// Shims hands out clients of the pods' shims.
type Shims interface {
	// Shim returns a client of the pod's running shim; a shim that is gone
	// is an ErrUnavailable error.
	Shim(ctx context.Context, pod Pod) (Shim, error)
	// LastState returns what a pod's shim last recorded on disk about a
	// container, for when the shim itself is gone.
	LastState(pod Pod, id string) (ProcessState, error)
}

// OrphanReaper cleans up after a container whose shim is gone: its
// processes run on with nobody to stop them, and its cgroup stays.
type OrphanReaper interface {
	// Reap kills every process left in the cgroup of the container whose
	// OCI bundle is bundle, and removes that cgroup. Nothing left is
	// success.
	Reap(ctx context.Context, bundle string) error
}

// LookPath checks that cmd can be executed in a container whose rootfs is
// mounted at rootfs, with env's PATH; ExecSync uses it to fail fast.
type LookPath func(rootfs string, env []string, mounts []*runtimeapi.Mount, cmd string) error

// EventPublisher is told of container life-cycle events
// (*events.Broker). It must not block.
type EventPublisher interface {
	Publish(t runtimeapi.ContainerEventType, containerID, podID string)
}

// NRI relays container life-cycle events to Node Resource Interface
// plugins. A hook's error fails the request only where noted.
type NRI interface {
	// BlockSync holds back the synchronization of newly connecting
	// plugins until unblock is called, so that a container being created
	// is either in a plugin's initial state or reported to it.
	BlockSync() (unblock func())
	// CreateContainer lets plugins adjust spec, the container's final OCI
	// spec, before its bundle is written; its error fails Create.
	CreateContainer(ctx context.Context, c *Container, spec *specs.Spec) error
	// PostCreateContainer is called once the container is created.
	PostCreateContainer(ctx context.Context, c *Container) error
	// StartContainer is called before the container's process starts;
	// its error fails Start.
	StartContainer(ctx context.Context, c *Container) error
	// PostStartContainer is called once the container runs.
	PostStartContainer(ctx context.Context, c *Container) error
	// StopContainer is called once the container exited, however it did.
	StopContainer(ctx context.Context, c *Container) error
	// RemoveContainer is called when the container is removed.
	RemoveContainer(ctx context.Context, c *Container) error
}

// NoNRI is the NRI used when NRI is disabled: every hook does nothing.
type NoNRI struct{}

// BlockSync does nothing.
func (NoNRI) BlockSync() func() { return func() {} }

// CreateContainer does nothing.
func (NoNRI) CreateContainer(context.Context, *Container, *specs.Spec) error { return nil }

// PostCreateContainer does nothing.
func (NoNRI) PostCreateContainer(context.Context, *Container) error { return nil }

// StartContainer does nothing.
func (NoNRI) StartContainer(context.Context, *Container) error { return nil }

// PostStartContainer does nothing.
func (NoNRI) PostStartContainer(context.Context, *Container) error { return nil }

// StopContainer does nothing.
func (NoNRI) StopContainer(context.Context, *Container) error { return nil }

// RemoveContainer does nothing.
func (NoNRI) RemoveContainer(context.Context, *Container) error { return nil }
