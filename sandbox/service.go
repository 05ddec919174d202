package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
	"github.com/cricket-cri/cricket/pkg/securefs"
	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox/internal/index"
	"github.com/cricket-cri/cricket/sandbox/internal/registrar"
)

const (
	bucket        = "sandboxes"
	recordVersion = 1
	// cleanupTimeout bounds each rollback and teardown step run after the
	// caller's context may already be gone.
	cleanupTimeout = 30 * time.Second
	// recoveryTimeout bounds the reconnection to one shim at start-up, so
	// that a wedged shim cannot hold the daemon back.
	recoveryTimeout = 10 * time.Second
)

// Options are the sandbox service's dependencies.
type Options struct {
	// StateDir is where each pod gets its volatile directory, StateDir/<id>.
	StateDir string
	// Store persists the sandbox records.
	Store      *store.Store
	Namespaces NamespacePinner
	Files      PodFiles
	Cgroups    Cgroups
	Shims      Shims
	// Network defaults to NoNetwork.
	Network Network
	// NRI is told of pod life-cycle events; defaults to NoNRI.
	NRI NRI
	// CheckHandler rejects unknown runtime handlers (an ErrNotFound
	// error); nil accepts every name.
	CheckHandler func(name string) error
	// UserNamespaces reports whether a runtime handler supports pods in
	// their own user namespace; nil means none does.
	UserNamespaces func(handler string) bool
	// Labels gives pods their SELinux labels; nil gives none.
	Labels Labels
}

// Service runs pod sandboxes.
type Service struct {
	opts  Options
	names *registrar.Registrar
	index *index.Index[*Sandbox]

	mu         sync.RWMutex
	containers Containers
}

// New returns a sandbox service. Call Load to recover the pods of a
// previous run before serving.
func New(opts Options) (*Service, error) {
	if opts.StateDir == "" || opts.Store == nil || opts.Namespaces == nil || opts.Files == nil || opts.Cgroups == nil || opts.Shims == nil {
		return nil, fmt.Errorf("sandbox service: state dir, store, namespaces, files, cgroups and shims are required: %w", errdefs.ErrInvalidArgument)
	}
	if opts.Network == nil {
		opts.Network = NoNetwork{}
	}
	if opts.NRI == nil {
		opts.NRI = NoNRI{}
	}
	if opts.Labels == nil {
		opts.Labels = NoLabels{}
	}
	return &Service{opts: opts, names: registrar.New(), index: index.New[*Sandbox]("pod sandbox")}, nil
}

// SetContainers connects the container service, which is built after this
// one because it looks pods up here.
func (s *Service) SetContainers(c Containers) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.containers = c
}

func (s *Service) containerService() Containers {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.containers
}

// Get returns the sandbox with the given ID or unique ID prefix.
func (s *Service) Get(id string) (*Sandbox, error) {
	return s.index.Get(id)
}

// List returns the sandboxes f selects, ordered by ID.
func (s *Service) List(f Filter) []*Sandbox {
	all := s.index.List()
	if f.ID != "" {
		sb, err := s.index.Get(f.ID)
		if err != nil {
			return nil
		}
		all = []*Sandbox{sb}
	}
	out := all[:0:0]
	for _, sb := range all {
		if f.State != nil && sb.Status().State != *f.State {
			continue
		}
		if !index.MatchLabels(f.Labels, sb.Config.GetLabels()) {
			continue
		}
		out = append(out, sb)
	}
	return out
}

// record is the persisted form of a sandbox.
type record struct {
	ID             string             `json:"id"`
	Name           string             `json:"name"`
	Config         []byte             `json:"config"`
	RuntimeHandler string             `json:"runtimeHandler"`
	StateDir       string             `json:"stateDir"`
	Namespaces     oci.NamespacePaths `json:"namespaces"`
	Files          podfiles.Paths     `json:"files"`
	CgroupPath     string             `json:"cgroupPath"`
	CgroupOwned    bool               `json:"cgroupOwned,omitempty"`
	Network        NetworkStatus      `json:"network"`
	CreatedAt      time.Time          `json:"createdAt"`
	SELinux        selinux.Labels     `json:"selinux,omitzero"`
	Status         Status             `json:"status"`
}

func (s *Service) persist(md Metadata, st Status) error {
	cfg, err := proto.Marshal(md.Config)
	if err != nil {
		return fmt.Errorf("encode config of pod sandbox %s: %w", md.ID, err)
	}
	rec := record{
		ID: md.ID, Name: md.Name, Config: cfg, RuntimeHandler: md.RuntimeHandler,
		StateDir: md.StateDir, Namespaces: md.Namespaces, Files: md.Files,
		CgroupPath: md.CgroupPath, CgroupOwned: md.CgroupOwned, Network: md.Network, CreatedAt: md.CreatedAt, SELinux: md.SELinux, Status: st,
	}
	if err := s.opts.Store.Put(bucket, md.ID, recordVersion, rec); err != nil {
		return fmt.Errorf("persist pod sandbox %s: %w", md.ID, err)
	}
	return nil
}

func (rec *record) metadata() (Metadata, error) {
	cfg := &runtimeapi.PodSandboxConfig{}
	if err := proto.Unmarshal(rec.Config, cfg); err != nil {
		return Metadata{}, fmt.Errorf("decode config of pod sandbox %s: %w", rec.ID, err)
	}
	return Metadata{
		ID: rec.ID, Name: rec.Name, Config: cfg, RuntimeHandler: rec.RuntimeHandler,
		StateDir: rec.StateDir, Namespaces: rec.Namespaces, Files: rec.Files,
		CgroupPath: rec.CgroupPath, CgroupOwned: rec.CgroupOwned, Network: rec.Network, CreatedAt: rec.CreatedAt, SELinux: rec.SELinux,
	}, nil
}

// Load recovers the sandboxes of a previous run: it reloads their records,
// re-reserves their names and reconnects to the shims of ready pods. A pod
// whose shim is gone becomes NotReady. Records that cannot be loaded are
// logged and skipped; Load never fails start-up.
func (s *Service) Load(ctx context.Context) {
	logger := klog.FromContext(ctx)
	err := s.opts.Store.Walk(bucket, func(id string, version int, decode func(any) error) error {
		if version != recordVersion {
			return fmt.Errorf("schema version %d, want %d", version, recordVersion)
		}
		var rec record
		if err := decode(&rec); err != nil {
			return err
		}
		return s.recover(ctx, &rec)
	}, func(id string, err error) {
		logger.Error(err, "skipping pod sandbox that cannot be recovered", "podSandboxID", id)
	})
	if err != nil {
		logger.Error(err, "cannot list pod sandbox records")
	}
	s.sweepStateDirs(ctx)
}

// sweepStateDirs removes every dir under the pods state dir that no
// record names, with what lives in it: a pod's record is written before
// its dir is made and deleted after the dir is gone, so such a dir is
// debris (of a bug, or of a version without that order). Only the pod's
// network and cgroup, which only its record names, cannot be found. A
// record that cannot be loaded still names its pod: its dir stays, as
// the pod may still run under a daemon of another schema version, and a
// live pod's files must never go because this daemon cannot read them.
// When the records cannot be listed nothing is swept.
func (s *Service) sweepStateDirs(ctx context.Context) {
	logger := klog.FromContext(ctx)
	ids, err := s.opts.Store.IDs(bucket)
	if err != nil {
		logger.Error(err, "cannot list pod sandbox records, not sweeping the pods state dir")
		return
	}
	named := map[string]bool{}
	for _, id := range ids {
		named[id] = true
		if len(id) >= podDirIDLen {
			named[filepath.Base(s.podDir(id))] = true
		}
	}
	for _, sb := range s.index.List() {
		named[filepath.Base(sb.StateDir)] = true
	}
	entries, err := os.ReadDir(s.opts.StateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || named[e.Name()] {
			continue
		}
		dir := filepath.Join(s.opts.StateDir, e.Name())
		if err := s.sweep(ctx, dir); err != nil {
			logger.Error(err, "cannot remove state dir no record names", "path", dir)
			continue
		}
		logger.Info("removed state dir no record names", "path", dir)
	}
}

// sweep tears down what may live in a pod state dir no record names: the
// shim serving it (whatever pod it says it serves), the pod's /dev/shm and
// files, its pinned namespaces and pod init; then any mount still beneath
// it, and the dir.
func (s *Service) sweep(ctx context.Context, dir string) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	err := errors.Join(
		s.opts.Shims.Stop(cctx, ShimPod{StateDir: dir}),
		s.opts.Files.Remove(cctx, dir),
		s.opts.Namespaces.Unpin(cctx, dir),
	)
	if err != nil {
		return err
	}
	return securefs.RemoveAllUnmounted(dir)
}

func (s *Service) recover(ctx context.Context, rec *record) error {
	md, err := rec.metadata()
	if err != nil {
		return err
	}
	if rec.Status.State == stateCreating {
		return s.abandon(ctx, md)
	}
	if err := s.names.Load(md.Name, md.ID); err != nil {
		return err
	}
	// A new pod must not get the level of one that outlived the restart.
	s.opts.Labels.Reserve(md.SELinux)
	sb := newSandbox(md, rec.Status, s.persist)
	s.index.Add(md.ID, sb)
	if rec.Status.State != StateReady {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, recoveryTimeout)
	defer cancel()
	if err := s.opts.Shims.Connect(cctx, shimPod(sb)); err != nil {
		klog.FromContext(ctx).Error(err, "shim of pod sandbox is gone, marking it not ready", "podSandboxID", md.ID)
		return sb.update(func(st Status) (Status, error) {
			return Status{State: StateNotReady, StoppedAt: time.Now()}, nil
		})
	}
	return nil
}

// abandon tears down a pod whose Run was cut short by a crash: every
// teardown step works from the pod's state dir and is idempotent.
func (s *Service) abandon(ctx context.Context, md Metadata) error {
	sb := newSandbox(md, Status{State: stateCreating}, s.persist)
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := s.teardown(cctx, sb); err != nil {
		return fmt.Errorf("tear down half-created pod sandbox: %w", err)
	}
	if err := securefs.RemoveAllUnmounted(md.StateDir); err != nil {
		return fmt.Errorf("remove state dir of half-created pod sandbox: %w", err)
	}
	klog.FromContext(ctx).Info("tore down pod sandbox whose creation was interrupted", "podSandboxID", md.ID)
	return s.opts.Store.Delete(bucket, md.ID)
}

func shimPod(sb *Sandbox) ShimPod {
	return ShimPod{ID: sb.ID, StateDir: sb.StateDir, RuntimeHandler: sb.RuntimeHandler}
}

// hostname names the UTS namespace of a pod whose config has none: the
// node's name, as containerd does.
func (s *Service) hostname() string {
	h, _ := os.Hostname()
	return h
}

// podDirIDLen is how much of the ID names a pod's state dir: the shim's
// socket lives there, and unix socket paths are limited to 107 bytes.
const podDirIDLen = 16

func (s *Service) podDir(id string) string {
	return filepath.Join(s.opts.StateDir, id[:podDirIDLen])
}

// cleanupContext returns a context for teardown that outlives a cancelled
// request but not forever.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// undo runs a rollback step when *retErr is set, with a fresh bounded
// context, and logs (rather than returns) its failure: the caller reports
// the error that caused the rollback.
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

// shimCheckInterval is how often MonitorShims looks at the ready pods.
const shimCheckInterval = 2 * time.Second

// MonitorShims marks NotReady, until ctx ends, every ready pod whose shim
// died while the daemon runs: the kubelet then replaces the pod instead of
// failing to start containers in it forever (found by test/fault; a
// restart already did this in Load).
func (s *Service) MonitorShims(ctx context.Context) {
	t := time.NewTicker(shimCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.CheckShims(ctx)
		}
	}
}

// CheckShims makes one pass of MonitorShims.
func (s *Service) CheckShims(ctx context.Context) {
	for _, sb := range s.index.List() {
		if sb.Status().State != StateReady || s.opts.Shims.Alive(shimPod(sb)) {
			continue
		}
		err := sb.update(func(st Status) (Status, error) {
			if st.State != StateReady {
				return st, nil
			}
			return Status{State: StateNotReady, StoppedAt: time.Now()}, nil
		})
		if err != nil {
			klog.FromContext(ctx).Error(err, "cannot mark pod sandbox whose shim died not ready", "podSandboxID", sb.ID)
			continue
		}
		klog.FromContext(ctx).Info("shim of pod sandbox died, marked it not ready", "podSandboxID", sb.ID)
	}
}
