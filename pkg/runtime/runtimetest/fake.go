// Package runtimetest is an in-memory fake of runtime.Executor and
// runtime.Exits for unit tests that must not need root or real containers.
//
// Fake processes have made-up pids. A container's init "runs" until the test
// calls Exit or the container is killed; exec processes run the test's
// ExecFunc. Both write to the stdio files they were given, so callers see real
// pipes close when a fake process ends.
package runtimetest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

// ExecFunc simulates an exec'd process: it may write to stdout and stderr
// and returns the exit code. ctx is cancelled when the process is killed.
type ExecFunc func(ctx context.Context, id string, p *specs.Process, stdout, stderr *os.File) int

// Container is the fake's record of one container.
type Container struct {
	ID      string
	Bundle  string
	Pid     int
	Status  runtime.Status
	Signals []syscall.Signal
	// Orphans counts the live background processes Orphan started.
	Orphans int
	// ownPidNS: the bundle's spec gives the container its own pid
	// namespace, so the init's exit ends the orphans too.
	ownPidNS bool
	stdout   *os.File
	stderr   *os.File
	orphans  []*os.File
}

type proc struct {
	container string
	cancel    context.CancelFunc
	stdio     []*os.File
}

// Executor is the fake. The zero value is not usable; call New.
type Executor struct {
	// ExecFunc runs exec'd processes; nil exits 0 at once.
	ExecFunc ExecFunc
	// Err, when set for a method name ("Create", "Start", ...), is returned
	// by that method instead of doing anything.
	Err map[string]error
	// CreateGate, when set before use, holds every Create until closed.
	CreateGate chan struct{}
	// Checkpoints lists the options of every successful Checkpoint.
	Checkpoints []runtime.CheckpointOptions
	// Restores lists the options of every successful Restore.
	Restores []runtime.RestoreOptions

	mu         sync.Mutex
	name       string
	nextPid    int
	containers map[string]*Container
	procs      map[int]*proc
	subs       map[int][]chan runtime.Exit
	exited     map[int]runtime.Exit
	calls      []string
}

var (
	_ runtime.Executor = (*Executor)(nil)
	_ runtime.Exits    = (*Executor)(nil)
)

// New returns a fake executor called name.
func New(name string) *Executor {
	return &Executor{
		name: name, nextPid: 1000, Err: map[string]error{},
		containers: map[string]*Container{}, procs: map[int]*proc{},
		subs: map[int][]chan runtime.Exit{}, exited: map[int]runtime.Exit{},
	}
}

// Name returns the name given to New.
func (f *Executor) Name() string { return f.name }

// Calls lists the methods called so far, as "Method id".
func (f *Executor) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Container returns a copy of the record of id, or nil.
func (f *Executor) Container(id string) *Container {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil
	}
	cp := *c
	return &cp
}

// Write writes data to the stdout (or with stderr true the stderr) of the
// container's init, as its program would.
func (f *Executor) Write(id string, stderr bool, data string) error {
	f.mu.Lock()
	c, ok := f.containers[id]
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("fake container %s: %w", id, errdefs.ErrNotFound)
	}
	w := c.stdout
	if stderr {
		w = c.stderr
	}
	if w == nil {
		return fmt.Errorf("fake container %s has no such stream", id)
	}
	_, err := w.WriteString(data)
	return err
}

// HoldOutput returns a copy of the write end of the container's stdout, as
// a process the init left behind would hold it: the output does not end
// with the init until the caller closes it.
func (f *Executor) HoldOutput(id string) (*os.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok || c.stdout == nil {
		return nil, fmt.Errorf("fake container %s has no stdout: %w", id, errdefs.ErrNotFound)
	}
	return dup(c.stdout)
}

// Orphan starts a background process in the container that holds a copy
// of the init's stdout, as a daemonised child does: it keeps the output
// pipe open after the init's exit until it is killed.
func (f *Executor) Orphan(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	if c.stdout == nil {
		return fmt.Errorf("fake container %s has no stdout to hold", id)
	}
	out, err := dup(c.stdout)
	if err != nil {
		return err
	}
	c.orphans = append(c.orphans, out)
	c.Orphans++
	return nil
}

func (c *Container) killOrphans() {
	for _, file := range c.orphans {
		_ = file.Close()
	}
	c.orphans, c.Orphans = nil, 0
}

// Exit makes the container's init exit with status.
func (f *Executor) Exit(id string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok && c.Status != runtime.StatusStopped {
		f.exitLocked(c, status)
	}
}

func (f *Executor) exitLocked(c *Container, status int) {
	c.Status = runtime.StatusStopped
	for _, file := range []*os.File{c.stdout, c.stderr} {
		if file != nil {
			_ = file.Close()
		}
	}
	c.stdout, c.stderr = nil, nil
	if c.ownPidNS {
		c.killOrphans()
	}
	f.deliverLocked(runtime.Exit{Pid: c.Pid, Status: status, Time: time.Now()})
}

func (f *Executor) deliverLocked(e runtime.Exit) {
	if e.Status > 128 {
		e.Signal = syscall.Signal(e.Status - 128)
	}
	subs := f.subs[e.Pid]
	delete(f.subs, e.Pid)
	if len(subs) == 0 {
		f.exited[e.Pid] = e
	}
	for _, ch := range subs {
		ch <- e
	}
}

// Wait implements runtime.Exits.
func (f *Executor) Wait(pid int) <-chan runtime.Exit {
	ch := make(chan runtime.Exit, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.exited[pid]; ok {
		delete(f.exited, pid)
		ch <- e
		return ch
	}
	f.subs[pid] = append(f.subs[pid], ch)
	return ch
}

// Signal delivers sig to a fake pid: an exec'd process is cancelled, an init
// exits with 128+sig when sig is SIGKILL or SIGTERM.
func (f *Executor) Signal(pid int, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.procs[pid]; ok {
		if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
			p.cancel()
		}
		return nil
	}
	for _, c := range f.containers {
		if c.Pid == pid && c.Status != runtime.StatusStopped {
			c.Signals = append(c.Signals, sig)
			if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
				f.exitLocked(c, 128+int(sig))
			}
			return nil
		}
	}
	return fmt.Errorf("kill(%d): %w", pid, syscall.ESRCH)
}

func (f *Executor) begin(method, id string) error {
	f.calls = append(f.calls, method+" "+id)
	return f.Err[method]
}

func dup(file *os.File) (*os.File, error) {
	if file == nil {
		return nil, nil
	}
	fd, err := syscall.Dup(int(file.Fd()))
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), file.Name()), nil
}

// Create implements runtime.Executor.
func (f *Executor) Create(_ context.Context, id, bundle string, stdio runtime.Stdio) (int, error) {
	if f.CreateGate != nil {
		<-f.CreateGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Create", id); err != nil {
		return 0, err
	}
	if _, ok := f.containers[id]; ok {
		return 0, fmt.Errorf("fake container %s: %w", id, errdefs.ErrAlreadyExists)
	}
	stdout, err := dup(stdio.Stdout)
	if err != nil {
		return 0, err
	}
	stderr, err := dup(stdio.Stderr)
	if err != nil {
		return 0, err
	}
	f.nextPid++
	c := &Container{ID: id, Bundle: bundle, Pid: f.nextPid, Status: runtime.StatusCreated, stdout: stdout, stderr: stderr}
	if spec, err := runtime.LoadSpec(bundle); err == nil {
		c.ownPidNS = runtime.OwnsPidNamespace(spec)
	}
	f.containers[id] = c
	return c.Pid, nil
}

func (f *Executor) lookup(id string) (*Container, error) {
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("fake container %s: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

// Start implements runtime.Executor.
func (f *Executor) Start(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Start", id); err != nil {
		return err
	}
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	if c.Status != runtime.StatusCreated {
		return fmt.Errorf("fake container %s is %s: %w", id, c.Status, errdefs.ErrFailedPrecondition)
	}
	c.Status = runtime.StatusRunning
	return nil
}

// Kill implements runtime.Executor; it is recorded as "KillAll id" with
// all (Err["Kill"] fails both). SIGKILL with all ends the orphans too, even after the init's exit.
func (f *Executor) Kill(_ context.Context, id string, sig syscall.Signal, all bool) error {
	f.mu.Lock()
	call := "Kill"
	if all {
		call = "KillAll"
	}
	f.calls = append(f.calls, call+" "+id)
	if err := f.Err["Kill"]; err != nil {
		f.mu.Unlock()
		return err
	}
	c, err := f.lookup(id)
	if err == nil && all && sig == syscall.SIGKILL {
		c.killOrphans()
		if c.Status == runtime.StatusStopped {
			f.mu.Unlock()
			return nil
		}
	}
	if err == nil && c.Status == runtime.StatusStopped {
		err = fmt.Errorf("fake container %s: not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Signal(c.Pid, sig)
}

// Delete implements runtime.Executor.
func (f *Executor) Delete(_ context.Context, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Delete", id); err != nil {
		return err
	}
	c, ok := f.containers[id]
	if !ok {
		return nil
	}
	if c.Status != runtime.StatusStopped {
		if !force {
			return fmt.Errorf("fake container %s is %s: %w", id, c.Status, errdefs.ErrFailedPrecondition)
		}
		f.exitLocked(c, 137)
	}
	c.killOrphans()
	delete(f.containers, id)
	return nil
}

// State implements runtime.Executor.
func (f *Executor) State(_ context.Context, id string) (*runtime.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return nil, err
	}
	st := &runtime.State{ID: id, Pid: c.Pid, Status: c.Status, Bundle: c.Bundle}
	if c.Status == runtime.StatusStopped {
		st.Pid = 0
	}
	return st, nil
}

// Exec implements runtime.Executor: ExecFunc runs in a goroutine.
func (f *Executor) Exec(_ context.Context, id string, p *specs.Process, stdio runtime.Stdio) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Exec", id); err != nil {
		return 0, err
	}
	c, err := f.lookup(id)
	if err != nil {
		return 0, err
	}
	if c.Status != runtime.StatusRunning {
		return 0, fmt.Errorf("fake container %s is %s: %w", id, c.Status, errdefs.ErrFailedPrecondition)
	}
	stdout, err := dup(stdio.Stdout)
	if err != nil {
		return 0, err
	}
	stderr, err := dup(stdio.Stderr)
	if err != nil {
		return 0, err
	}
	f.nextPid++
	pid := f.nextPid
	ctx, cancel := context.WithCancel(context.Background())
	f.procs[pid] = &proc{container: id, cancel: cancel, stdio: []*os.File{stdout, stderr}}
	go f.runExec(ctx, pid, id, p, stdout, stderr)
	return pid, nil
}

func (f *Executor) runExec(ctx context.Context, pid int, id string, p *specs.Process, stdout, stderr *os.File) {
	status := 0
	if f.ExecFunc != nil {
		status = f.ExecFunc(ctx, id, p, stdout, stderr)
	}
	if ctx.Err() != nil {
		status = 137
	}
	for _, file := range []*os.File{stdout, stderr} {
		if file != nil {
			_ = file.Close()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.procs, pid)
	f.deliverLocked(runtime.Exit{Pid: pid, Status: status, Time: time.Now()})
}

// Pids implements runtime.Executor.
func (f *Executor) Pids(_ context.Context, id string) ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return nil, err
	}
	if c.Status == runtime.StatusStopped {
		return nil, nil
	}
	pids := []int{c.Pid}
	for pid, p := range f.procs {
		if p.container == id {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Update implements runtime.Executor.
func (f *Executor) Update(_ context.Context, id string, _ *specs.LinuxResources) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Update", id); err != nil {
		return err
	}
	_, err := f.lookup(id)
	return err
}

// Checkpoint records the call and, like CRIU, writes the image directory
// (one file, "inventory.img") so callers can see where it went. A container
// that does not run is refused; without LeaveRunning the container exits
// with 137, as CRIU kills it after the dump.
func (f *Executor) Checkpoint(_ context.Context, id string, opts runtime.CheckpointOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Checkpoint", id); err != nil {
		return err
	}
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	if c.Status != runtime.StatusRunning && c.Status != runtime.StatusPaused {
		return fmt.Errorf("checkpoint container %s: %s: %w", id, c.Status, errdefs.ErrFailedPrecondition)
	}
	if err := os.MkdirAll(opts.ImagePath, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(opts.ImagePath+"/inventory.img", []byte(id), 0o600); err != nil {
		return err
	}
	f.Checkpoints = append(f.Checkpoints, opts)
	if !opts.LeaveRunning {
		f.exitLocked(c, 137)
	}
	return nil
}

// Pause marks a running container paused.
func (f *Executor) Pause(_ context.Context, id string) error {
	return f.setStatus("Pause", id, runtime.StatusRunning, runtime.StatusPaused)
}

// Resume marks a paused container running.
func (f *Executor) Resume(_ context.Context, id string) error {
	return f.setStatus("Resume", id, runtime.StatusPaused, runtime.StatusRunning)
}

func (f *Executor) setStatus(method, id string, from, to runtime.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(method, id); err != nil {
		return err
	}
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	if c.Status != from {
		return fmt.Errorf("%s container %s: it is %s: %w", method, id, c.Status, errdefs.ErrFailedPrecondition)
	}
	c.Status = to
	return nil
}

// Restore is Create of a fake process that runs at once (recorded as
// "Create id" then "Restore id", opts in Restores); the image path must hold "inventory.img", as Checkpoint writes.
func (f *Executor) Restore(ctx context.Context, id, bundle string, stdio runtime.Stdio, opts runtime.RestoreOptions) (int, error) {
	if _, err := os.Stat(opts.ImagePath + "/inventory.img"); err != nil {
		return 0, fmt.Errorf("restore container %s: no checkpoint at %s: %w", id, opts.ImagePath, errdefs.ErrNotFound)
	}
	pid, err := f.Create(ctx, id, bundle, stdio)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Restore", id); err != nil {
		return 0, err
	}
	c, err := f.lookup(id)
	if err != nil {
		return 0, err
	}
	c.Status = runtime.StatusRunning
	f.Restores = append(f.Restores, opts)
	return pid, nil
}
