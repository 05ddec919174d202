package daemon

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.opentelemetry.io/otel/attribute"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
	"github.com/cricket-cri/cricket/pkg/tracing"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// shims adapts the daemon's pool of shim connections (shimclient.Pool) to the
// sandbox service (sandbox.Shims) and the container service
// (container.Shims).
type shims struct {
	pool     *shimclient.Pool
	handlers *handlerSet
}

func newShims(opts shimclient.Options, handlers *handlerSet) *shims {
	return &shims{pool: shimclient.NewPool(opts), handlers: handlers}
}

// Start implements sandbox.Shims.
func (p *shims) Start(ctx context.Context, pod sandbox.ShimPod) (err error) {
	defer metrics.ObservePhase(metrics.PhaseShim, time.Now())
	ctx, span := tracing.Start(ctx, tracing.SpanShimStart, attribute.String("pod.id", pod.ID))
	defer tracing.End(span, &err)
	return p.pool.Start(ctx, pod.ID, pod.StateDir)
}

// Connect implements sandbox.Shims.
func (p *shims) Connect(ctx context.Context, pod sandbox.ShimPod) error {
	_, err := p.pool.Connect(ctx, pod.ID, pod.StateDir)
	return err
}

// Stop implements sandbox.Shims.
func (p *shims) Stop(ctx context.Context, pod sandbox.ShimPod) error {
	return p.pool.Stop(ctx, pod.ID, pod.StateDir)
}

// Alive implements sandbox.Shims from the shim's pid file.
func (p *shims) Alive(pod sandbox.ShimPod) bool {
	return shimclient.Alive(pod.StateDir)
}

// Shim implements container.Shims.
func (p *shims) Shim(ctx context.Context, pod container.Pod) (container.Shim, error) {
	c, err := p.pool.Connect(ctx, pod.ID, pod.StateDir)
	if err != nil {
		return nil, err
	}
	return &shimClient{shims: p, podID: pod.ID, c: c}, nil
}

// LastState implements container.Shims from the shim's records on disk.
func (p *shims) LastState(pod container.Pod, id string) (container.ProcessState, error) {
	recs, err := shimclient.ReadRecords(pod.StateDir)
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

func processState(st *shimapi.ContainerState) container.ProcessState {
	ps := container.ProcessState{Pid: st.Pid, StartedAt: st.StartedAt, Running: st.Status == shimapi.StatusRunning}
	if e := st.Exit; e != nil {
		ps.Exit = &container.Exit{Code: int32(e.ExitCode), Signal: e.Signal, OOMKilled: e.OOMKilled, At: e.ExitedAt}
		ps.Running = false
	}
	return ps
}

// shimClient adapts *shimclient.Client to container.Shim.
type shimClient struct {
	shims *shims
	podID string
	c     *shimclient.Client
}

// check drops the connection when it failed as unavailable.
func (s *shimClient) check(err error) error {
	if errors.Is(err, errdefs.ErrUnavailable) {
		s.shims.pool.Drop(s.podID, s.c)
	}
	return err
}

func (s *shimClient) Create(ctx context.Context, req container.ShimCreate) (err error) {
	ctx, span := tracing.Start(ctx, tracing.SpanExecutorCreate, attribute.String("container.id", req.ID),
		attribute.String("runtime.handler", req.RuntimeHandler))
	defer tracing.End(span, &err)
	h, err := s.shims.handlers.Lookup(req.RuntimeHandler)
	if err != nil {
		return err
	}
	_, err = s.c.CreateContainer(ctx, shimapi.CreateRequest{
		ID: req.ID, Bundle: req.Bundle, Handler: h, LogPath: req.LogPath, LogDir: req.LogDir, Stdin: req.Stdin, Terminal: req.Terminal, Restore: req.Restore,
	})
	return s.check(err)
}

func (s *shimClient) Start(ctx context.Context, id string) (_ container.ProcessState, err error) {
	defer metrics.ObservePhase(metrics.PhaseExecutor, time.Now())
	ctx, span := tracing.Start(ctx, tracing.SpanExecutorStart, attribute.String("container.id", id))
	defer tracing.End(span, &err)
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
	res, err := s.c.ExecSync(ctx, shimapi.ExecRequest{ID: req.ID, Process: req.Process, Timeout: req.Timeout, MaxOutput: req.MaxOutput})
	if err != nil {
		return container.ExecResult{}, s.check(err)
	}
	return container.ExecResult{ExitCode: int32(res.ExitCode), Stdout: res.Stdout, Stderr: res.Stderr, TimedOut: res.TimedOut}, nil
}

func (s *shimClient) ReopenLog(ctx context.Context, id string) error {
	return s.check(s.c.ReopenLog(ctx, id))
}

func (s *shimClient) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	return s.check(s.c.Update(ctx, shimapi.UpdateRequest{ID: id, Resources: resources}))
}

func (s *shimClient) Checkpoint(ctx context.Context, id string, opts runtime.CheckpointOptions) error {
	return s.check(s.c.Checkpoint(ctx, shimapi.CheckpointRequest{ID: id, Options: opts}))
}

func (s *shimClient) Pause(ctx context.Context, id string) error { return s.check(s.c.Pause(ctx, id)) }

func (s *shimClient) Resume(ctx context.Context, id string) error {
	return s.check(s.c.Resume(ctx, id))
}
