package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/pkg/shim"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// shims keeps one connection per pod shim, shared by the sandbox service
// (sandbox.ShimManager) and the container service (container.Shims). A
// connection that fails as unavailable is dropped and redialled on next use.
type shims struct {
	opts     shim.Options // Binary, SystemdCgroup, Env; per pod the rest
	handlers handlerLookup

	mu      sync.Mutex
	clients map[string]*shim.Client
}

func newShims(opts shim.Options, handlers handlerLookup) *shims {
	return &shims{opts: opts, handlers: handlers, clients: map[string]*shim.Client{}}
}

func (p *shims) cached(podID string) *shim.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients[podID]
}

// keep makes c the pod's connection unless a concurrent dial won the race;
// it returns the connection to use.
func (p *shims) keep(podID string, c *shim.Client) *shim.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.clients[podID]; old != nil && old != c {
		_ = c.Close()
		return old
	}
	p.clients[podID] = c
	return c
}

// drop forgets c (if it still is the pod's connection) and closes it.
func (p *shims) drop(podID string, c *shim.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients[podID] == c {
		delete(p.clients, podID)
		_ = c.Close()
	}
}

// shimStartTimeout bounds a shim's start. The start does not end with the
// request that asked for it: a shim abandoned half-way through its start
// could not be stopped cleanly.
const shimStartTimeout = 10 * time.Second

// Start implements sandbox.ShimManager.
func (p *shims) Start(ctx context.Context, pod sandbox.ShimPod) error {
	defer metrics.ObservePhase(metrics.PhaseShim, time.Now())
	o := p.opts
	o.PodID, o.StateDir = pod.ID, pod.StateDir
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shimStartTimeout)
	defer cancel()
	c, err := shim.Start(ctx, o)
	if err != nil {
		return err
	}
	p.keep(pod.ID, c)
	return nil
}

// Connect implements sandbox.ShimManager.
func (p *shims) Connect(ctx context.Context, pod sandbox.ShimPod) error {
	_, err := p.connect(ctx, pod.ID, pod.StateDir)
	return err
}

func (p *shims) connect(ctx context.Context, podID, stateDir string) (*shim.Client, error) {
	if c := p.cached(podID); c != nil {
		return c, nil
	}
	c, err := shim.Connect(ctx, shim.SocketPath(stateDir))
	if err != nil {
		return nil, err
	}
	info, err := c.Info(ctx)
	if err == nil && info.PodID != podID {
		err = fmt.Errorf("shim at %s serves pod %s, not %s: %w", stateDir, info.PodID, podID, errdefs.ErrUnavailable)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return p.keep(podID, c), nil
}

// Stop implements sandbox.ShimManager: a forced shutdown kills and deletes
// what is left of the pod's containers before the shim exits.
func (p *shims) Stop(ctx context.Context, pod sandbox.ShimPod) error {
	c, err := p.connect(ctx, pod.ID, pod.StateDir)
	if errors.Is(err, errdefs.ErrUnavailable) {
		// Gone, or alive without answering (wedged, or killed half-way
		// through its start): make sure it is gone.
		return killUnreachableShim(ctx, pod.StateDir)
	}
	if err != nil {
		return err
	}
	info, infoErr := c.Info(ctx)
	err = c.Shutdown(ctx, true)
	p.drop(pod.ID, c)
	if err != nil && !errors.Is(err, errdefs.ErrUnavailable) {
		return fmt.Errorf("shut down shim of pod %s: %w", pod.ID, err)
	}
	if infoErr == nil {
		// The shim exits just after answering; wait, so that removing the
		// pod's state dir never races it.
		awaitExit(ctx, info.Pid, shimExitWait)
	}
	return nil
}

// Alive implements sandbox.ShimManager from the shim's pid file.
func (p *shims) Alive(pod sandbox.ShimPod) bool {
	return shimPid(pod.StateDir) > 0
}

// shimPid returns the pid recorded in stateDir/shim.pid if that process
// still is a shim of this state dir (pids are reused), else 0.
func shimPid(stateDir string) int {
	data, err := os.ReadFile(filepath.Join(stateDir, "shim.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), shim.Arg) || !strings.Contains(string(cmdline), stateDir) {
		return 0
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie (state Z after the command's closing parenthesis) is dead.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return 0
		}
	}
	return pid
}

// killUnreachableShim kills the shim recorded in stateDir/shim.pid if that
// process still is a shim of this state dir (pids are reused).
func killUnreachableShim(ctx context.Context, stateDir string) error {
	pid := shimPid(stateDir)
	if pid == 0 {
		return nil
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill unreachable shim %d: %w", pid, err)
	}
	awaitExit(ctx, pid, shimExitWait)
	return nil
}

// shimExitWait bounds the wait for a shim to exit after Shutdown.
const shimExitWait = 5 * time.Second

// awaitExit polls until pid is gone or a zombie, or max has passed.
func awaitExit(ctx context.Context, pid int, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// The state follows the parenthesised command name.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Shim implements container.Shims.
func (p *shims) Shim(ctx context.Context, pod container.Pod) (container.Shim, error) {
	c, err := p.connect(ctx, pod.ID, pod.StateDir)
	if err != nil {
		return nil, err
	}
	return &shimClient{pool: p, podID: pod.ID, c: c}, nil
}

// LastState implements container.Shims from the shim's records on disk.
func (p *shims) LastState(pod container.Pod, id string) (container.ProcessState, error) {
	recs, err := shim.ReadRecords(pod.StateDir)
	for _, r := range recs {
		if r.ID == id {
			return processState(&r), nil
		}
	}
	if err != nil {
		return container.ProcessState{}, fmt.Errorf("records of shim of pod %s: %w", pod.ID, err)
	}
	return container.ProcessState{}, fmt.Errorf("container %s in the records of pod %s: %w", id, pod.ID, errdefs.ErrNotFound)
}

func processState(st *shim.ContainerState) container.ProcessState {
	ps := container.ProcessState{Pid: st.Pid, StartedAt: st.StartedAt, Running: st.Status == shim.StatusRunning}
	if e := st.Exit; e != nil {
		ps.Exit = &container.Exit{Code: int32(e.ExitCode), Signal: e.Signal, OOMKilled: e.OOMKilled, At: e.ExitedAt}
		ps.Running = false
	}
	return ps
}

// shimClient adapts *shim.Client to container.Shim.
type shimClient struct {
	pool  *shims
	podID string
	c     *shim.Client
}

// check drops the connection when it failed as unavailable.
func (s *shimClient) check(err error) error {
	if errors.Is(err, errdefs.ErrUnavailable) {
		s.pool.drop(s.podID, s.c)
	}
	return err
}

func (s *shimClient) Create(ctx context.Context, req container.ShimCreate) error {
	h, err := s.pool.handlers.Lookup(req.RuntimeHandler)
	if err != nil {
		return err
	}
	_, err = s.c.CreateContainer(ctx, shim.CreateRequest{
		ID: req.ID, Bundle: req.Bundle, Handler: h, LogPath: req.LogPath, LogDir: req.LogDir, Stdin: req.Stdin, Terminal: req.Terminal,
	})
	return s.check(err)
}

func (s *shimClient) Start(ctx context.Context, id string) (container.ProcessState, error) {
	defer metrics.ObservePhase(metrics.PhaseExecutor, time.Now())
	st, err := s.c.Start(ctx, id)
	if err != nil {
		return container.ProcessState{}, s.check(err)
	}
	return processState(st), nil
}

func (s *shimClient) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	return s.check(s.c.Kill(ctx, id, sig, all))
}

func (s *shimClient) Delete(ctx context.Context, id string) error {
	_, err := s.c.Delete(ctx, id, true)
	return s.check(err)
}

func (s *shimClient) Wait(ctx context.Context, id string) (container.Exit, error) {
	st, err := s.c.Wait(ctx, id)
	if err != nil {
		return container.Exit{}, s.check(err)
	}
	ps := processState(st)
	if ps.Exit == nil {
		return container.Exit{}, fmt.Errorf("shim reported container %s exited without an exit record", id)
	}
	return *ps.Exit, nil
}

func (s *shimClient) State(ctx context.Context, id string) (container.ProcessState, error) {
	st, err := s.c.State(ctx, id)
	if err != nil {
		return container.ProcessState{}, s.check(err)
	}
	return processState(st), nil
}

func (s *shimClient) Exec(ctx context.Context, req container.ExecRequest) (container.ExecResult, error) {
	res, err := s.c.ExecSync(ctx, shim.ExecRequest{ID: req.ID, Process: req.Process, Timeout: req.Timeout, MaxOutput: req.MaxOutput})
	if err != nil {
		return container.ExecResult{}, s.check(err)
	}
	return container.ExecResult{ExitCode: int32(res.ExitCode), Stdout: res.Stdout, Stderr: res.Stderr, TimedOut: res.TimedOut}, nil
}

func (s *shimClient) ReopenLog(ctx context.Context, id string) error {
	return s.check(s.c.ReopenLog(ctx, id))
}

func (s *shimClient) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	return s.check(s.c.Update(ctx, shim.UpdateRequest{ID: id, Resources: resources}))
}
