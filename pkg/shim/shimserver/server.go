// Package shimserver is the per-pod shim process: what cmd/cricket-shim runs
// for "cricket-shim __shim --pod ID --state DIR" (Main). It serves the API
// of pkg/shim/shimapi on the pod's state dir: it creates, starts, signals
// and deletes the containers through the executors of pkg/runtime, reaps
// them as the child subreaper, writes their output to the CRI log files,
// fans it out to attach sessions and runs exec sessions on the stream
// socket, counts OOM kills, records every state and exit on disk, adopts
// the containers of a shim that died (Recover), and returns its memory to
// the kernel while idle.
//
// Only cricket-shim links it (and its tests run the shim in their own test
// binary); cricketd talks to it through pkg/shim/shimclient. It must stay
// lean: every shim pays for what it links once per pod.
package shimserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/store"
)

// ioDrainTimeout bounds how long an exit waits for the last output: a
// daemonised grandchild may hold the pipe open forever.
const ioDrainTimeout = 2 * time.Second

// Config wires a Server to its executors and process plumbing. Main fills it
// with the real ones; unit tests with runtimetest fakes.
type Config struct {
	PodID    string
	StateDir string
	// NewExecutor returns the executor for a handler; the server caches one
	// per handler name.
	NewExecutor func(h runtime.Handler) (runtime.Executor, error)
	// Exits reports the exits of the pids the executors return.
	Exits runtime.Exits
	// Signal sends a signal to a pid (exec'd processes at their timeout).
	Signal func(pid int, sig syscall.Signal) error
}

// Server is the shim's state: its containers and their monitors.
type Server struct {
	cfg   Config
	store *store.Store

	mu         sync.Mutex
	executors  map[string]runtime.Executor
	containers map[string]*container

	events eventLog
	trim   trimmer
	// bg counts the record writes left running in the background (the
	// start record), which Shutdown waits for.
	bg sync.WaitGroup
}

// waitBackground waits for the background record writes.
func (s *Server) waitBackground() { s.bg.Wait() }

type container struct {
	mu    sync.Mutex
	state shimapi.ContainerState
	// persistMu orders record writes: each write snapshots the state while
	// holding it, so the last write on disk is always the newest state.
	persistMu sync.Mutex
	deleted   bool
	exec      runtime.Executor
	log       *criLog
	stdin     *os.File
	// console is the pty master of a terminal container (also its stdin
	// and stdout); attach resizes it.
	console *os.File
	// hub fans the output out to attach sessions.
	hub attachHub
	oom *oomCounter
	// exited is closed once the exit record is on disk.
	exited chan struct{}
	// ready is closed once Create (or recovery) is done with the
	// container: until then it has no executor.
	ready chan struct{}
	// restored marks a container whose process Create restored from a
	// checkpoint: it already runs, Start has nothing to exec.
	restored bool
}

// NewServer opens the shim's record store under cfg.StateDir. The state dir
// is volatile (a reboot empties it and ends the containers its records
// describe), so the store writes atomically without fsync: a container
// start must not wait for the disk.
func NewServer(cfg Config) (*Server, error) {
	st, err := store.OpenVolatile(shimapi.StoreDir(cfg.StateDir))
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, store: st,
		executors:  map[string]runtime.Executor{},
		containers: map[string]*container{},
	}
	s.events.init()
	return s, nil
}

func (s *Server) executor(h runtime.Handler) (runtime.Executor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.executors[h.Name]; ok {
		return e, nil
	}
	e, err := s.cfg.NewExecutor(h)
	if err != nil {
		return nil, err
	}
	s.executors[h.Name] = e
	return e, nil
}

func (s *Server) get(id string) (*container, error) {
	c, ok := s.lookup(id)
	if !ok {
		return nil, fmt.Errorf("container %s in pod %s: %w", id, s.cfg.PodID, errdefs.ErrNotFound)
	}
	// A request may come while the container is still being created (a
	// daemon that restarted reconciles while its predecessor's Create
	// runs on): wait for the creation, which had no executor to use yet
	// (found by test/fault: a Delete then crashed the shim).
	select {
	case <-c.ready:
	case <-time.After(createWait):
		return nil, fmt.Errorf("container %s in pod %s is still being created: %w", id, s.cfg.PodID, errdefs.ErrUnavailable)
	}
	if now, ok := s.lookup(id); !ok || now != c {
		// The creation failed and released the id.
		return nil, fmt.Errorf("container %s in pod %s: %w", id, s.cfg.PodID, errdefs.ErrNotFound)
	}
	return c, nil
}

// createWait bounds how long a request waits for a container's creation.
const createWait = 30 * time.Second

func (s *Server) lookup(id string) (*container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	return c, ok
}

// reserve claims id so that a concurrent create of the same id fails.
func (s *Server) reserve(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.containers[id]; ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
	}
	c := &container{exited: make(chan struct{}), ready: make(chan struct{})}
	s.containers[id] = c
	return c, nil
}

func (s *Server) release(id string) {
	s.mu.Lock()
	delete(s.containers, id)
	s.mu.Unlock()
}

// pipes are the shim's ends and the child's ends of a process's stdio.
type pipes struct {
	child runtime.Stdio
	// The shim's ends: the write end of stdin, the read ends of the output.
	stdin, stdoutRead, stderrRead *os.File
}

func newPipes(withStdin bool) (*pipes, error) {
	p := &pipes{}
	var opened []*os.File
	fail := func(err error) (*pipes, error) {
		for _, f := range opened {
			_ = f.Close()
		}
		return nil, fmt.Errorf("create stdio pipes: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	opened = append(opened, outR, outW)
	errR, errW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	opened = append(opened, errR, errW)
	p.child = runtime.Stdio{Stdout: outW, Stderr: errW}
	p.stdoutRead, p.stderrRead = outR, errR
	if withStdin {
		inR, inW, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		p.child.Stdin = inR
		p.stdin = inW
	}
	return p, nil
}

func (p *pipes) closeChildEnds() {
	for _, f := range []*os.File{p.child.Stdin, p.child.Stdout, p.child.Stderr} {
		if f != nil {
			_ = f.Close()
		}
	}
}

func (p *pipes) closeAll() {
	p.closeChildEnds()
	for _, f := range []*os.File{p.stdin, p.stdoutRead, p.stderrRead} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// Create creates a container and starts monitoring its init.
func (s *Server) Create(ctx context.Context, req shimapi.CreateRequest) (_ *shimapi.ContainerState, retErr error) {
	if req.ID == "" || req.Bundle == "" {
		return nil, fmt.Errorf("create container: id and bundle are required: %w", errdefs.ErrInvalidArgument)
	}
	c, err := s.reserve(req.ID)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			s.release(req.ID)
		}
		close(c.ready)
	}()
	ex, err := s.executor(req.Handler)
	if err != nil {
		return nil, err
	}
	var log *criLog
	if req.LogPath != "" {
		if log, err = openLog(req.LogDir, req.LogPath); err != nil {
			return nil, err
		}
		defer func() {
			if retErr != nil {
				_ = log.Close()
			}
		}()
	}
	p, err := newPipes(req.Stdin)
	if err != nil {
		return nil, err
	}
	// A terminal process (its spec says so) writes to a pty instead; its
	// master replaces the pipes' reading ends: the CRI logs a tty as stdout.
	var master *os.File
	p.child.OnConsole = func(m *os.File) { master = m }
	var pid int
	if req.Restore != nil {
		pid, err = ex.Restore(ctx, req.ID, req.Bundle, p.child, *req.Restore)
	} else {
		pid, err = ex.Create(ctx, req.ID, req.Bundle, p.child)
	}
	p.closeChildEnds()
	if err != nil {
		p.closeAll()
		return nil, err
	}
	if master != nil {
		p.closeAll()
		p.stdoutRead = master
		p.stderrRead = nil
		if req.Stdin {
			p.stdin = master
		}
	}
	c.mu.Lock()
	c.exec, c.log, c.stdin, c.console = ex, log, p.stdin, master
	c.restored = req.Restore != nil
	c.oom = oomCounterOf(pid)
	c.state = shimapi.ContainerState{
		ID: req.ID, Bundle: req.Bundle, Handler: req.Handler, LogPath: req.LogPath,
		Pid: pid, Status: shimapi.StatusCreated, CreatedAt: time.Now(),
	}
	st := c.state
	c.mu.Unlock()
	if err := s.persist(c); err != nil {
		_ = ex.Delete(context.WithoutCancel(ctx), req.ID, true)
		p.closeAll()
		return nil, err
	}
	ioDone := s.copyOutput(log, p.stdoutRead, p.stderrRead, &c.hub)
	go s.monitor(c, s.cfg.Exits.Wait(pid), ioDone)
	s.events.add(shimapi.Event{Type: shimapi.EventCreated, ID: req.ID, Pid: pid})
	return &st, nil
}

// copyOutput turns the container's output into log records (or discards it),
// copies it to the attach sessions on the way, and returns a channel closed
// when both streams reached EOF.
func (s *Server) copyOutput(log *criLog, stdout, stderr *os.File, hub *attachHub) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for stream, r := range map[string]*os.File{streamStdout: stdout, streamStderr: stderr} {
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			tee := io.TeeReader(r, hubWriter{h: hub, stream: stream})
			if log == nil {
				_, _ = io.Copy(io.Discard, tee)
				return
			}
			log.Copy(stream, tee)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// monitor waits for the init's exit, ends what it left running, lets the
// output drain, records the exit on disk and only then publishes it.
func (s *Server) monitor(c *container, exits <-chan runtime.Exit, ioDone <-chan struct{}) {
	e := <-exits
	s.killOrphans(c)
	select {
	case <-ioDone:
	case <-time.After(ioDrainTimeout):
	}
	c.hub.close(shimapi.StreamMessage{Exited: true, ExitCode: e.Status})
	c.mu.Lock()
	rec := &shimapi.ExitRecord{
		ID: c.state.ID, Pid: e.Pid, ExitCode: e.Status, Signal: int(e.Signal),
		ExitedAt: e.Time, OOMKilled: c.oom.Count() > 0,
	}
	c.state.Status = shimapi.StatusExited
	c.state.Exit = rec
	c.mu.Unlock()
	if err := s.store.Put(shimapi.BucketExits, rec.ID, shimapi.RecordVersion, rec); err != nil {
		fmt.Fprintf(os.Stderr, "shim: record exit of container %s: %v\n", rec.ID, err)
	}
	if err := s.persist(c); err != nil {
		fmt.Fprintf(os.Stderr, "shim: %v\n", err)
	}
	close(c.exited)
	s.trim.Poke()
	s.events.add(shimapi.Event{Type: shimapi.EventExited, ID: rec.ID, Pid: rec.Pid, ExitCode: rec.ExitCode, OOMKilled: rec.OOMKilled})
}

// orphanKillTimeout bounds the kill of what an exited init left running
// (a runc-CLI handler runs its binary for it).
const orphanKillTimeout = 10 * time.Second

// killOrphans kills every process left in the container's cgroup once its
// init exited, when the container has no pid namespace of its own (it is
// in its pod's or the host's). The kernel ends the rest of a pid namespace
// with its init, but here the init was an ordinary process: its children
// would run on, reparented to the pod init or the shim, in the cgroup of a
// container reported exited, and hold its output open. containerd's shim
// does the same (runc kill --all); the executors freeze the cgroup, kill
// and thaw, so nothing forks in between. A spec that cannot be read (the
// bundle removed by a forced delete) is treated as shared: killing a cgroup
// whose processes are all gone does nothing.
func (s *Server) killOrphans(c *container) {
	c.mu.Lock()
	id, bundle, ex := c.state.ID, c.state.Bundle, c.exec
	c.mu.Unlock()
	if spec, err := runtime.LoadSpec(bundle); err == nil && runtime.OwnsPidNamespace(spec) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), orphanKillTimeout)
	defer cancel()
	err := ex.Kill(ctx, id, syscall.SIGKILL, true)
	if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		fmt.Fprintf(os.Stderr, "shim: kill what the init of container %s left running: %v\n", id, err)
	}
}

// persist writes the container's current state record.
func (s *Server) persist(c *container) error {
	c.persistMu.Lock()
	defer c.persistMu.Unlock()
	if c.deleted {
		return nil
	}
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if err := s.store.Put(shimapi.BucketContainers, st.ID, shimapi.RecordVersion, &st); err != nil {
		return fmt.Errorf("record state of container %s: %w", st.ID, err)
	}
	return nil
}

// Start makes a created container run its program.
func (s *Server) Start(ctx context.Context, id string) (*shimapi.ContainerState, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	status, restored := c.state.Status, c.restored
	c.mu.Unlock()
	if status != shimapi.StatusCreated {
		return nil, fmt.Errorf("start container %s: it is %s: %w", id, status, errdefs.ErrFailedPrecondition)
	}
	if !restored {
		if err := c.exec.Start(ctx, id); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if c.state.Status == shimapi.StatusCreated {
		c.state.Status = shimapi.StatusRunning
	}
	c.state.StartedAt = time.Now()
	st := c.state
	c.mu.Unlock()
	// Off the start path: the record only matters if this shim dies, and
	// then the container's start time is all it would lose.
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.persist(c); err != nil {
			fmt.Fprintf(os.Stderr, "shim: %v\n", err)
		}
	}()
	s.events.add(shimapi.Event{Type: shimapi.EventStarted, ID: id, Pid: st.Pid})
	return &st, nil
}

// Kill signals a container; signalling one that has exited is success.
// An executor that finds the init no longer running while its exit is not
// recorded yet (monitor lets the output drain first, for up to
// ioDrainTimeout) has met an exit: Kill waits for the record.
func (s *Server) Kill(ctx context.Context, req shimapi.KillRequest) error {
	c, err := s.get(req.ID)
	if err != nil {
		return err
	}
	if c.isExited() {
		return nil
	}
	err = c.exec.Kill(ctx, req.ID, req.Signal, req.All)
	if errdefs.IsFailedPrecondition(err) {
		t := time.NewTimer(ioDrainTimeout + time.Second)
		defer t.Stop()
		select {
		case <-c.exited:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if err != nil && c.isExited() {
		return nil
	}
	return err
}

func (c *container) isExited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// Delete removes a container and its records; a missing one is success.
func (s *Server) Delete(ctx context.Context, req shimapi.DeleteRequest) (*shimapi.ContainerState, error) {
	c, err := s.get(req.ID)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if !c.isExited() && !req.Force {
		return nil, fmt.Errorf("delete container %s: it is not exited: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	if err := c.exec.Delete(ctx, req.ID, req.Force); err != nil {
		return nil, err
	}
	// The executor killed a running container; wait for its record.
	select {
	case <-c.exited:
	case <-time.After(ioDrainTimeout + time.Second):
	}
	c.mu.Lock()
	if c.log != nil {
		_ = c.log.Close()
	}
	if c.stdin != nil {
		_ = c.stdin.Close()
	}
	st := c.state
	c.mu.Unlock()
	s.release(req.ID)
	c.persistMu.Lock()
	c.deleted = true
	_ = s.store.Delete(shimapi.BucketContainers, req.ID)
	_ = s.store.Delete(shimapi.BucketExits, req.ID)
	c.persistMu.Unlock()
	s.events.add(shimapi.Event{Type: shimapi.EventDeleted, ID: req.ID})
	return &st, nil
}

// State returns one container's state.
func (s *Server) State(id string) (*shimapi.ContainerState, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state
	return &st, nil
}

// List returns every container's state, sorted by id.
func (s *Server) List() []shimapi.ContainerState {
	s.mu.Lock()
	cs := make([]*container, 0, len(s.containers))
	for _, c := range s.containers {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	out := make([]shimapi.ContainerState, 0, len(cs))
	for _, c := range cs {
		c.mu.Lock()
		if c.state.ID != "" {
			out = append(out, c.state)
		}
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Wait blocks until the container exited or ctx is done.
func (s *Server) Wait(ctx context.Context, id string) (*shimapi.ContainerState, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.State(id)
}

// Pids lists the container's processes.
func (s *Server) Pids(ctx context.Context, id string) ([]int, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, err
	}
	return c.exec.Pids(ctx, id)
}

// Update changes the container's resources.
func (s *Server) Update(ctx context.Context, req shimapi.UpdateRequest) error {
	c, err := s.get(req.ID)
	if err != nil {
		return err
	}
	return c.exec.Update(ctx, req.ID, req.Resources)
}

// Checkpoint dumps the container with CRIU through its executor.
func (s *Server) Checkpoint(ctx context.Context, req shimapi.CheckpointRequest) error {
	c, err := s.get(req.ID)
	if err != nil {
		return err
	}
	return c.exec.Checkpoint(ctx, req.ID, req.Options)
}

// Pause freezes the container's processes.
func (s *Server) Pause(ctx context.Context, id string) error {
	c, err := s.get(id)
	if err != nil {
		return err
	}
	return c.exec.Pause(ctx, id)
}

// Resume thaws the container's processes.
func (s *Server) Resume(ctx context.Context, id string) error {
	c, err := s.get(id)
	if err != nil {
		return err
	}
	return c.exec.Resume(ctx, id)
}

// ReopenLog reopens the container's log file after rotation.
func (s *Server) ReopenLog(id string) error {
	c, err := s.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	log, exited := c.log, c.isExited()
	c.mu.Unlock()
	if log == nil {
		return fmt.Errorf("container %s has no log path: %w", id, errdefs.ErrFailedPrecondition)
	}
	if exited {
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	return log.Reopen()
}

// Exec runs a process in a running container and captures its output.
func (s *Server) Exec(ctx context.Context, req shimapi.ExecRequest) (*shimapi.ExecResult, error) {
	c, err := s.get(req.ID)
	if err != nil {
		return nil, err
	}
	if c.isExited() {
		return nil, fmt.Errorf("exec in container %s: it is not running: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	if req.Process == nil || len(req.Process.Args) == 0 {
		return nil, fmt.Errorf("exec in container %s: no command: %w", req.ID, errdefs.ErrInvalidArgument)
	}
	max := req.MaxOutput
	if max <= 0 {
		max = shimapi.DefaultMaxOutput
	}
	p, err := newPipes(req.Stdin != nil)
	if err != nil {
		return nil, err
	}
	pid, err := c.exec.Exec(ctx, req.ID, req.Process, p.child)
	p.closeChildEnds()
	if err != nil {
		p.closeAll()
		return nil, err
	}
	exits := s.cfg.Exits.Wait(pid)
	if p.stdin != nil {
		go func() {
			_, _ = p.stdin.Write(req.Stdin)
			_ = p.stdin.Close()
		}()
	}
	stdout, stderr := &capped{max: max}, &capped{max: max}
	ioDone := captureOutput(p.stdoutRead, p.stderrRead, stdout, stderr)
	res := &shimapi.ExecResult{}
	res.ExitCode, res.TimedOut = s.awaitExec(pid, exits, req.Timeout)
	select {
	case <-ioDone:
	case <-time.After(ioDrainTimeout):
		// A background child still holds the pipes: stop reading.
		_ = p.stdoutRead.Close()
		_ = p.stderrRead.Close()
		<-ioDone
	}
	res.Stdout, res.Stderr = stdout.bytes(), stderr.bytes()
	res.Truncated = stdout.dropped || stderr.dropped
	return res, nil
}

// awaitExec waits for pid to exit, killing it at the timeout.
func (s *Server) awaitExec(pid int, exits <-chan runtime.Exit, timeout time.Duration) (code int, timedOut bool) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case e := <-exits:
		return e.Status, false
	case <-expired:
	}
	_ = s.cfg.Signal(pid, syscall.SIGKILL)
	e := <-exits
	return e.Status, true
}

func captureOutput(stdoutR, stderrR *os.File, stdout, stderr *capped) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	for _, pair := range []struct {
		r *os.File
		w *capped
	}{{stdoutR, stdout}, {stderrR, stderr}} {
		go func() {
			defer wg.Done()
			_, _ = io.Copy(pair.w, pair.r)
			_ = pair.r.Close()
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - len(c.buf)
	if room < len(p) {
		c.dropped = true
		if room > 0 {
			c.buf = append(c.buf, p[:room]...)
		}
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *capped) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

// Shutdown deletes the containers (killing them with force) and reports
// whether the shim may exit.
func (s *Server) Shutdown(ctx context.Context, req shimapi.ShutdownRequest) error {
	states := s.List()
	if !req.Force {
		for _, st := range states {
			if st.Status != shimapi.StatusExited {
				return fmt.Errorf("shim of pod %s: container %s is %s: %w", s.cfg.PodID, st.ID, st.Status, errdefs.ErrFailedPrecondition)
			}
		}
	}
	s.waitBackground() // no start record lands after the delete below
	var errs []error
	for _, st := range states {
		if _, err := s.Delete(ctx, shimapi.DeleteRequest{ID: st.ID, Force: true}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// eventLog keeps recent events for long-polling clients.
type eventLog struct {
	mu     sync.Mutex
	seq    uint64
	events []shimapi.Event
	wake   chan struct{}
}

// maxEvents bounds the backlog a slow client can still catch up on.
const maxEvents = 1024

func (l *eventLog) init() { l.wake = make(chan struct{}) }

func (l *eventLog) add(e shimapi.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	e.Seq = l.seq
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.events = append(l.events, e)
	if len(l.events) > maxEvents {
		l.events = append([]shimapi.Event(nil), l.events[len(l.events)-maxEvents:]...)
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// since returns the events after seq, waiting up to wait for the first one.
func (l *eventLog) since(ctx context.Context, after uint64, wait time.Duration) shimapi.EventsResponse {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		if after > l.seq {
			// A sequence number from an earlier shim: start over.
			after = 0
		}
		var out []shimapi.Event
		for _, e := range l.events {
			if e.Seq > after {
				out = append(out, e)
			}
		}
		next, wake := l.seq, l.wake
		l.mu.Unlock()
		if len(out) > 0 || wait <= 0 {
			return shimapi.EventsResponse{Events: out, Next: next}
		}
		select {
		case <-wake:
		case <-deadline.C:
			return shimapi.EventsResponse{Next: next}
		case <-ctx.Done():
			return shimapi.EventsResponse{Next: next}
		}
	}
}
