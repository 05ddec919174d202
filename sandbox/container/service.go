package container

import (
	"context"
	"fmt"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox/internal/index"
	"github.com/cricket-cri/cricket/sandbox/internal/registrar"
)

const (
	bucket         = "containers"
	recordVersion  = 1
	cleanupTimeout = 30 * time.Second
	// killWait bounds the wait for an exit after SIGKILL when the caller
	// gave no deadline.
	killWait = 2 * time.Minute
)

// Options are the container service's dependencies.
type Options struct {
	// StateDir is where each container gets its bundle, StateDir/<id>.
	StateDir string
	// IDMapDir, when set, is where Spec stages a container's idmapped
	// mounts, IDMapDir/<id> (removed by Rootfs.Unmount). Load sweeps the
	// dirs there and in StateDir that no record names.
	IDMapDir string
	// Store persists the container records.
	Store  *store.Store
	Pods   Pods
	Images Images
	Rootfs Rootfs
	Spec   SpecBuilder
	Shims  Shims
	// LookPath, when set, makes ExecSync of a missing command fail fast.
	LookPath LookPath
	// Events, when set, is told of every container's life-cycle.
	Events EventPublisher
	// NRI is told of container life-cycle events; defaults to NoNRI.
	NRI NRI
	// FitResources, when set, adapts the resources of an update to the
	// host's cgroups (drops what cannot apply, refuses what is invalid
	// here), as the spec builder does for new containers.
	FitResources func(*specs.LinuxResources) error
	// PinHostMounts bind-mounts each resolved host path into the bundle
	// at create (needs root); otherwise the resolved path goes in the spec.
	PinHostMounts bool
	// AbsentMountSourcesToReject are host paths refused when missing;
	// any other missing host path of a bind mount is created as a
	// directory (config runtime.absent_mount_sources_to_reject).
	AbsentMountSourcesToReject []string
	// Orphans, when set, cleans up after containers whose shim is gone.
	Orphans OrphanReaper
	// CRIU says whether checkpoint and restore can work on this host: nil,
	// or why not (an ErrFailedPrecondition error in CRIU's words). Nil
	// CRIU means they cannot.
	CRIU func() error
}

// Service runs containers.
type Service struct {
	opts  Options
	names *registrar.Registrar
	index *index.Index[*Container]
}

// New returns a container service. Call Load to recover the containers of
// a previous run before serving.
func New(opts Options) (*Service, error) {
	if opts.StateDir == "" || opts.Store == nil || opts.Pods == nil || opts.Images == nil || opts.Rootfs == nil || opts.Spec == nil || opts.Shims == nil {
		return nil, fmt.Errorf("container service: state dir, store, pods, images, rootfs, spec and shims are required: %w", errdefs.ErrInvalidArgument)
	}
	if opts.NRI == nil {
		opts.NRI = NoNRI{}
	}
	return &Service{opts: opts, names: registrar.New(), index: index.New[*Container]("container")}, nil
}

// Get returns the container with the given ID or unique ID prefix.
func (s *Service) Get(id string) (*Container, error) {
	return s.index.Get(id)
}

// List returns the containers f selects, ordered by ID.
func (s *Service) List(f Filter) []*Container {
	all := s.index.List()
	if f.ID != "" {
		c, err := s.index.Get(f.ID)
		if err != nil {
			return nil
		}
		all = []*Container{c}
	}
	out := all[:0:0]
	for _, c := range all {
		if f.PodID != "" && c.PodID != f.PodID {
			continue
		}
		if f.State != nil && c.Status().State != *f.State {
			continue
		}
		if !index.MatchLabels(f.Labels, c.Config.GetLabels()) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// podContainers lists the containers of one pod.
func (s *Service) podContainers(podID string) []*Container {
	return s.List(Filter{PodID: podID})
}

// record is the persisted form of a container.
type record struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	PodID      string         `json:"podID"`
	Config     []byte         `json:"config"`
	Image      Image          `json:"image"`
	Bundle     string         `json:"bundle"`
	Rootfs     string         `json:"rootfs"`
	LogPath    string         `json:"logPath,omitempty"`
	Process    *specs.Process `json:"process"`
	Volumes    []ImageVolume  `json:"imageVolumes,omitempty"`
	StopSignal int            `json:"stopSignal"`
	CreatedAt  time.Time      `json:"createdAt"`
	Status     Status         `json:"status"`
	// Restore is Metadata.Restore.
	Restore *runtime.RestoreOptions `json:"restore,omitempty"`
}

func (s *Service) persist(md Metadata, st Status) error {
	cfg, err := proto.Marshal(md.Config)
	if err != nil {
		return fmt.Errorf("encode config of container %s: %w", md.ID, err)
	}
	rec := record{
		ID: md.ID, Name: md.Name, PodID: md.PodID, Config: cfg, Image: md.Image,
		Bundle: md.Bundle, Rootfs: md.Rootfs, LogPath: md.LogPath, Process: md.Process, Volumes: md.ImageVolumes,
		StopSignal: int(md.StopSignal), CreatedAt: md.CreatedAt, Status: st, Restore: md.Restore,
	}
	if err := s.opts.Store.Put(bucket, md.ID, recordVersion, rec); err != nil {
		return fmt.Errorf("persist container %s: %w", md.ID, err)
	}
	return nil
}

func (rec *record) metadata() (Metadata, error) {
	cfg := &runtimeapi.ContainerConfig{}
	if err := proto.Unmarshal(rec.Config, cfg); err != nil {
		return Metadata{}, fmt.Errorf("decode config of container %s: %w", rec.ID, err)
	}
	return Metadata{
		ID: rec.ID, Name: rec.Name, PodID: rec.PodID, Config: cfg, Image: rec.Image,
		Bundle: rec.Bundle, Rootfs: rec.Rootfs, LogPath: rec.LogPath, Process: rec.Process, ImageVolumes: rec.Volumes,
		StopSignal: syscall.Signal(rec.StopSignal), CreatedAt: rec.CreatedAt, Restore: rec.Restore,
	}, nil
}

// shimOf returns a client of the shim of c's pod.
func (s *Service) shimOf(ctx context.Context, c *Container) (Shim, Pod, error) {
	pod, err := s.opts.Pods.Pod(c.PodID)
	if err != nil {
		return nil, Pod{}, fmt.Errorf("pod sandbox of container %s: %w", c.ID, err)
	}
	sh, err := s.opts.Shims.Shim(ctx, pod)
	if err != nil {
		return nil, pod, fmt.Errorf("shim of container %s: %w", c.ID, err)
	}
	return sh, pod, nil
}

func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// undo runs a rollback step when *retErr is set, with a fresh bounded
// context, and logs its failure.
func undo(ctx context.Context, retErr *error, step string, fn func(context.Context) error) {
	if *retErr == nil {
		return
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := fn(cctx); err != nil {
		klog.FromContext(ctx).Error(err, "rollback step failed", "step", step)
	}
}

// publish tells the event publisher, if any, of an event of c.
func (s *Service) publish(t runtimeapi.ContainerEventType, c *Container) {
	if s.opts.Events != nil {
		s.opts.Events.Publish(t, c.ID, c.PodID)
	}
}

// changed publishes the events of state transitions.
func (s *Service) changed(c *Container, from, to State) {
	switch to {
	case StateRunning:
		s.publish(runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, c)
	case StateExited:
		// Before Stop returns, whoever recorded the exit: plugins hear of a
		// stop before the removal that may follow it.
		if err := s.opts.NRI.StopContainer(context.Background(), c); err != nil {
			klog.Background().Error(err, "NRI StopContainer failed", "containerID", c.ID)
		}
		s.publish(runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, c)
	}
}
