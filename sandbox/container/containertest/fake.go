// Package containertest provides fakes of the layers the container service
// runs on, so that it can be tested without root.
package containertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// Pods fakes container.Pods.
type Pods struct {
	mu   sync.Mutex
	pods map[string]container.Pod
}

// Add adds or replaces a pod.
func (f *Pods) Add(p container.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pods == nil {
		f.pods = map[string]container.Pod{}
	}
	f.pods[p.ID] = p
}

// Delete forgets a pod.
func (f *Pods) Delete(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pods, id)
}

// Pod returns the pod id.
func (f *Pods) Pod(id string) (container.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[id]
	if !ok {
		return container.Pod{}, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return p, nil
}

// Images fakes container.Images with a fixed set of images by reference.
type Images map[string]container.Image

// Resolve returns the image ref, whatever the handler.
func (f Images) Resolve(_ context.Context, ref, _ string) (container.Image, error) {
	img, ok := f[ref]
	if !ok {
		return container.Image{}, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	}
	img.Ref = ref
	return img, nil
}

// Rootfs fakes container.Rootfs and remembers what is mounted.
type Rootfs struct {
	mu      sync.Mutex
	mounted map[string]string
	// MountErr and UnmountErr are returned by Mount and Unmount.
	MountErr, UnmountErr error
	// OnMount, when set, is called with each target mounted (to fill it).
	OnMount func(target string)
	// IDMaps are the idmaps of the keys mounted with MountIDMapped.
	IDMaps map[string]container.RootfsIDMap
	// MountLabels are the SELinux mount labels the keys were mounted
	// with, when they had one.
	MountLabels map[string]string
	// Uppers are the upper dirs UpperDir returns, by key.
	Uppers map[string]string
}

// Mount records target as mounted for key, with its mount label.
func (f *Rootfs) Mount(_ context.Context, key string, _ container.Image, target, mountLabel string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.MountErr != nil {
		return f.MountErr
	}
	if f.mounted == nil {
		f.mounted = map[string]string{}
	}
	f.mounted[key] = target
	if mountLabel != "" {
		if f.MountLabels == nil {
			f.MountLabels = map[string]string{}
		}
		f.MountLabels[key] = mountLabel
	}
	if f.OnMount != nil {
		f.OnMount(target)
	}
	return nil
}

// MountIDMapped records target as mounted for key, and the idmap.
func (f *Rootfs) MountIDMapped(ctx context.Context, key string, img container.Image, target, mountLabel string, idm container.RootfsIDMap) error {
	if err := f.Mount(ctx, key, img, target, mountLabel); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.IDMaps == nil {
		f.IDMaps = map[string]container.RootfsIDMap{}
	}
	f.IDMaps[key] = idm
	return nil
}

// Unmount forgets key.
func (f *Rootfs) Unmount(_ context.Context, key, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.UnmountErr != nil {
		return f.UnmountErr
	}
	delete(f.mounted, key)
	return nil
}

// UpperDir returns Uppers[key]; a key with none is ErrNotFound.
func (f *Rootfs) UpperDir(key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.Uppers[key]; ok {
		return d, nil
	}
	return "", fmt.Errorf("writable layer %s: %w", key, errdefs.ErrNotFound)
}

// Mounted lists the keys mounted, sorted.
func (f *Rootfs) Mounted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.mounted {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Spec fakes container.SpecBuilder: the process runs the config's command
// (or the image's entrypoint) as root with the image's environment.
type Spec struct {
	// Err is returned by Build.
	Err error
	// SELinux are the labels SELinuxLabels gives every container.
	SELinux selinux.Labels
}

// SELinuxLabels returns f.SELinux.
func (f Spec) SELinuxLabels(context.Context, *runtimeapi.ContainerConfig, container.Pod) (selinux.Labels, error) {
	return f.SELinux, nil
}

// Build returns a minimal spec.
func (f Spec) Build(_ context.Context, in container.SpecInput) (*specs.Spec, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	args := append(in.Config.GetCommand(), in.Config.GetArgs()...)
	if len(args) == 0 {
		args = append(in.Image.Config.Entrypoint, in.Image.Config.Cmd...)
	}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: in.Rootfs},
		Process: &specs.Process{Args: args, Env: in.Image.Config.Env, Cwd: "/", SelinuxLabel: in.SELinux.Process},
		Linux:   &specs.Linux{CgroupsPath: filepath.Join(in.Pod.CgroupParent, in.ID), MountLabel: in.SELinux.Mount},
	}, nil
}

// Process is the fake shim's record of one container process.
type Process struct {
	Create  container.ShimCreate
	Pid     int
	Started time.Time
	Exit    *container.Exit
	// Signals received, in order.
	Signals []syscall.Signal
	// Resources are the last resources Update applied.
	Resources *specs.LinuxResources
	// Checkpoints are the options of each Checkpoint of the process.
	Checkpoints []runtime.CheckpointOptions
	// Paused is set between Pause and Resume.
	Paused bool
	// PausedAtCheckpoint records, per Checkpoint, whether it was paused.
	PausedAtCheckpoint []bool
	done               chan struct{}
}

// Shims fakes container.Shims: one in-memory shim per pod. A process dies
// of any signal not in Ignore (with code 128+signal) unless told otherwise.
type Shims struct {
	mu    sync.Mutex
	procs map[string]*Process // by container ID
	gone  map[string]bool     // pods whose shim is gone
	next  int
	calls []string

	fail map[string]error // by method name, see Fail

	// Ignore lists signals the processes ignore.
	Ignore map[syscall.Signal]bool
	// ExecResult is what Exec returns.
	ExecResult container.ExecResult
	// LastExec is the last exec request.
	LastExec *container.ExecRequest
	// OnCheckpoint, when set, runs at the start of each Checkpoint (after
	// the checks); its error fails the call.
	OnCheckpoint func(id string, opts runtime.CheckpointOptions) error
}

// NewShims returns fake shims.
func NewShims() *Shims {
	return &Shims{procs: map[string]*Process{}, gone: map[string]bool{}, next: 100, Ignore: map[syscall.Signal]bool{}, fail: map[string]error{}}
}

// Fail makes every later call of method ("Create", "Start", "Kill",
// "Exec", ...) return err; nil clears it. It takes the lock: the container
// service's watchers call Wait concurrently with the test.
func (f *Shims) Fail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, method)
		return
	}
	f.fail[method] = err
}

// SetGone makes the pod's shim unreachable (or reachable again).
func (f *Shims) SetGone(podID string, gone bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gone[podID] = gone
}

// Calls returns the shim calls made, as "Method id".
func (f *Shims) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Proc returns the process of container id, nil when there is none.
func (f *Shims) Proc(id string) *Process {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[id]
}

// ProcLocked is Proc for hooks (OnCheckpoint) that run with the fake's
// lock held.
func (f *Shims) ProcLocked(id string) *Process { return f.procs[id] }

// Exit ends the process of container id with code.
func (f *Shims) Exit(id string, code int32, oom bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.procs[id]; p != nil {
		f.exitLocked(p, container.Exit{Code: code, OOMKilled: oom, At: time.Now()})
	}
}

func (f *Shims) exitLocked(p *Process, e container.Exit) {
	if p.Exit != nil {
		return
	}
	p.Exit = &e
	close(p.done)
}

// Shim returns the pod's shim client.
func (f *Shims) Shim(_ context.Context, pod container.Pod) (container.Shim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone[pod.ID] {
		return nil, fmt.Errorf("shim of pod %s: %w", pod.ID, errdefs.ErrUnavailable)
	}
	return &shim{f: f, pod: pod.ID}, nil
}

// LastState returns the process record of id, even when its shim is gone.
func (f *Shims) LastState(_ container.Pod, id string) (container.ProcessState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.procs[id]
	if p == nil {
		return container.ProcessState{}, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return stateOf(p), nil
}

func stateOf(p *Process) container.ProcessState {
	return container.ProcessState{Pid: p.Pid, StartedAt: p.Started, Running: p.Exit == nil && !p.Started.IsZero(), Exit: p.Exit}
}

type shim struct {
	f   *Shims
	pod string
}

// begin logs the call and returns the injected or shim-gone error.
func (s *shim) begin(method, id string) error {
	s.f.calls = append(s.f.calls, method+" "+id)
	if s.f.gone[s.pod] {
		return fmt.Errorf("shim of pod %s: %w", s.pod, errdefs.ErrUnavailable)
	}
	return s.f.fail[method]
}

func (s *shim) proc(id string) (*Process, error) {
	p := s.f.procs[id]
	if p == nil {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return p, nil
}

func (s *shim) Create(_ context.Context, req container.ShimCreate) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("Create", req.ID); err != nil {
		return err
	}
	if s.f.procs[req.ID] != nil {
		return fmt.Errorf("container %s: %w", req.ID, errdefs.ErrAlreadyExists)
	}
	s.f.next++
	s.f.procs[req.ID] = &Process{Create: req, Pid: s.f.next, done: make(chan struct{})}
	return nil
}

func (s *shim) Start(_ context.Context, id string) (container.ProcessState, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("Start", id); err != nil {
		return container.ProcessState{}, err
	}
	p, err := s.proc(id)
	if err != nil {
		return container.ProcessState{}, err
	}
	p.Started = time.Now()
	return stateOf(p), nil
}

func (s *shim) Kill(_ context.Context, id string, sig syscall.Signal, _ bool) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("Kill", id); err != nil {
		return err
	}
	p, err := s.proc(id)
	if err != nil {
		return err
	}
	p.Signals = append(p.Signals, sig)
	if !s.f.Ignore[sig] || sig == syscall.SIGKILL {
		s.f.exitLocked(p, container.Exit{Code: 128 + int32(sig), Signal: int(sig), At: time.Now()})
	}
	return nil
}

func (s *shim) Delete(_ context.Context, id string) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("Delete", id); err != nil {
		return err
	}
	if p := s.f.procs[id]; p != nil {
		s.f.exitLocked(p, container.Exit{Code: 137, Signal: int(syscall.SIGKILL), At: time.Now()})
	}
	delete(s.f.procs, id)
	return nil
}

func (s *shim) Wait(ctx context.Context, id string) (container.Exit, error) {
	s.f.mu.Lock()
	if err := s.begin("Wait", id); err != nil {
		s.f.mu.Unlock()
		return container.Exit{}, err
	}
	p, err := s.proc(id)
	s.f.mu.Unlock()
	if err != nil {
		return container.Exit{}, err
	}
	select {
	case <-p.done:
		return *p.Exit, nil
	case <-ctx.Done():
		return container.Exit{}, ctx.Err()
	}
}

func (s *shim) State(_ context.Context, id string) (container.ProcessState, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("State", id); err != nil {
		return container.ProcessState{}, err
	}
	p, err := s.proc(id)
	if err != nil {
		return container.ProcessState{}, err
	}
	return stateOf(p), nil
}

func (s *shim) Exec(_ context.Context, req container.ExecRequest) (container.ExecResult, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("Exec", req.ID); err != nil {
		return container.ExecResult{}, err
	}
	if _, err := s.proc(req.ID); err != nil {
		return container.ExecResult{}, err
	}
	s.f.LastExec = &req
	return s.f.ExecResult, nil
}

func (s *shim) ReopenLog(_ context.Context, id string) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("ReopenLog", id); err != nil {
		return err
	}
	_, err := s.proc(id)
	return err
}

func (s *shim) Update(_ context.Context, id string, resources *specs.LinuxResources) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("Update", id); err != nil {
		return err
	}
	p, err := s.proc(id)
	if err != nil {
		return err
	}
	p.Resources = resources
	return nil
}

// Checkpoint fakes a CRIU dump of a running container: it writes one
// image file into opts.ImagePath and CRIU's log into opts.WorkPath, and
// records opts in the process. Without LeaveRunning the process exits 137.
func (s *shim) Checkpoint(_ context.Context, id string, opts runtime.CheckpointOptions) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin("Checkpoint", id); err != nil {
		return err
	}
	p, err := s.proc(id)
	if err != nil {
		return err
	}
	if p.Exit != nil || p.Started.IsZero() {
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	if s.f.OnCheckpoint != nil {
		if err := s.f.OnCheckpoint(id, opts); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(opts.ImagePath, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(opts.ImagePath, "pages-1.img"), []byte("memory of "+id), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(opts.WorkPath, "dump.log"), []byte("dump of "+id), 0o600); err != nil {
		return err
	}
	p.Checkpoints = append(p.Checkpoints, opts)
	p.PausedAtCheckpoint = append(p.PausedAtCheckpoint, p.Paused)
	if !opts.LeaveRunning {
		s.f.exitLocked(p, container.Exit{Code: 137, At: time.Now()})
	}
	return nil
}

// Pause marks the process paused; a paused process cannot exit.
func (s *shim) Pause(_ context.Context, id string) error {
	return s.setPaused("Pause", id, true)
}

// Resume marks the process running again.
func (s *shim) Resume(_ context.Context, id string) error {
	return s.setPaused("Resume", id, false)
}

func (s *shim) setPaused(method, id string, paused bool) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.begin(method, id); err != nil {
		return err
	}
	p, err := s.proc(id)
	if err != nil {
		return err
	}
	if p.Exit != nil || p.Paused == paused {
		return fmt.Errorf("%s container %s: wrong state: %w", method, id, errdefs.ErrFailedPrecondition)
	}
	p.Paused = paused
	return nil
}
