// Package shimclient is cricketd's side of the per-pod shim: it starts a
// pod's shim (cmd/cricket-shim) or reconnects to a running one, calls its
// API, opens exec and attach sessions on its stream socket, and reads the
// records of a shim that is gone. The daemon links it; the shim process
// does not (it links pkg/shim/shimserver). The protocol both speak is
// pkg/shim/shimapi.
package shimclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/store"
)

// Options say how to start a pod's shim.
type Options struct {
	PodID    string
	StateDir string
	// Binary is the shim executable; it must dispatch shimapi.Arg to
	// shimserver.Main (cmd/cricket-shim does). Default: this executable.
	Binary string
	// SystemdCgroup selects the systemd cgroup driver in the executors.
	SystemdCgroup bool
	// Env is added to the shim's environment.
	Env []string
}

// runtimeEnv tunes the shim's Go runtime for its size: one P (a shim does
// one thing at a time; each extra P costs its own caches and an idle
// thread). It comes after the daemon's environment, so that a GOMAXPROCS
// given to cricketd does not leak into its shims, and before Options.Env,
// which can override it.
var runtimeEnv = []string{"GOMAXPROCS=1"}

// Client talks to one pod's shim. It is safe for concurrent use.
type Client struct {
	rpc  *rpc.Client
	sock string
}

// Start connects to the pod's shim, starting one when none answers on its
// socket. The shim runs in its own session and outlives the caller.
func Start(ctx context.Context, opts Options) (*Client, error) {
	if opts.PodID == "" || opts.StateDir == "" {
		return nil, fmt.Errorf("start shim: pod id and state dir are required: %w", errdefs.ErrInvalidArgument)
	}
	sock := shimapi.SocketPath(opts.StateDir)
	if c, err := Connect(ctx, sock); err == nil {
		info, err := c.Info(ctx)
		if err == nil && info.PodID == opts.PodID {
			return c, nil
		}
		_ = c.Close()
	}
	if err := spawn(ctx, opts); err != nil {
		return nil, err
	}
	return Connect(ctx, sock)
}

func spawn(ctx context.Context, opts Options) error {
	bin := opts.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("start shim of pod %s: find own executable: %w", opts.PodID, err)
		}
		bin = exe
	}
	if err := os.MkdirAll(opts.StateDir, 0o711); err != nil {
		return fmt.Errorf("create pod state dir %s: %w", opts.StateDir, err)
	}
	logPath := shimapi.LogPath(opts.StateDir)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open shim log %s: %w", logPath, err)
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create shim ready pipe: %w", err)
	}
	defer readyR.Close()
	args := []string{shimapi.Arg, "--pod", opts.PodID, "--state", opts.StateDir, "--ready-fd", "3"}
	if opts.SystemdCgroup {
		args = append(args, "--systemd-cgroup")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), runtimeEnv...), opts.Env...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW}
	// Its own session: no controlling terminal, no signals to our group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	_ = readyW.Close()
	if err != nil {
		return fmt.Errorf("start shim of pod %s: %w", opts.PodID, err)
	}
	// Collect the shim's exit if it ends while we still run.
	go func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	w := startWatch{progress: func() (int64, bool) { return cpuTicks(pid) }, idle: startIdle, cap: startCap, poll: startPoll}
	err = w.await(ctx, readyR)
	if err == nil {
		return nil
	}
	msg, _ := os.ReadFile(logPath)
	if i := bytes.LastIndex(bytes.TrimRight(msg, "\n"), []byte("\n")); i >= 0 {
		msg = msg[i+1:]
	}
	return fmt.Errorf("shim of pod %s (pid %d) did not start: %w; its log ends: %s: %w", opts.PodID, pid, err, bytes.TrimSpace(msg), errdefs.ErrUnavailable)
}

// Connect dials a running shim.
func Connect(ctx context.Context, socketPath string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("connect to shim %s: %w: %w", socketPath, err, errdefs.ErrUnavailable)
	}
	return &Client{rpc: rpc.NewClient(conn), sock: socketPath}, nil
}

// Close closes the connection; the shim keeps running.
func (c *Client) Close() error { return c.rpc.Close() }

func (c *Client) call(ctx context.Context, method string, args, reply any) error {
	call := c.rpc.Go(shimapi.ServiceName+"."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
	case <-ctx.Done():
		return fmt.Errorf("shim %s %s: %w", c.sock, method, ctx.Err())
	}
	var se rpc.ServerError
	switch err := call.Error; {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return shimapi.DecodeError(string(se))
	case errors.Is(err, rpc.ErrShutdown):
		return fmt.Errorf("shim %s %s: connection closed: %w", c.sock, method, errdefs.ErrUnavailable)
	default:
		return fmt.Errorf("shim %s %s: %w: %w", c.sock, method, err, errdefs.ErrUnavailable)
	}
}

// Info identifies the shim.
func (c *Client) Info(ctx context.Context) (*shimapi.Info, error) {
	var info shimapi.Info
	if err := c.call(ctx, "Info", shimapi.Empty{}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// CreateContainer creates a container from its bundle; its init waits for Start.
func (c *Client) CreateContainer(ctx context.Context, req shimapi.CreateRequest) (*shimapi.ContainerState, error) {
	var st shimapi.ContainerState
	if err := c.call(ctx, "Create", req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Start starts a created container.
func (c *Client) Start(ctx context.Context, id string) (*shimapi.ContainerState, error) {
	var st shimapi.ContainerState
	if err := c.call(ctx, "Start", shimapi.IDRequest{ID: id}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Kill signals a container's init, or with all every process in it.
func (c *Client) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	return c.call(ctx, "Kill", shimapi.KillRequest{ID: id, Signal: sig, All: all}, &shimapi.Empty{})
}

// Delete removes a container (force kills it first); it returns the last
// state, or nil when the shim did not know the container.
func (c *Client) Delete(ctx context.Context, id string, force bool) (*shimapi.ContainerState, error) {
	var st shimapi.ContainerState
	if err := c.call(ctx, "Delete", shimapi.DeleteRequest{ID: id, Force: force}, &st); err != nil {
		return nil, err
	}
	if st.ID == "" {
		return nil, nil
	}
	return &st, nil
}

// State returns a container's state.
func (c *Client) State(ctx context.Context, id string) (*shimapi.ContainerState, error) {
	var st shimapi.ContainerState
	if err := c.call(ctx, "State", shimapi.IDRequest{ID: id}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// List returns the states of all the shim's containers.
func (c *Client) List(ctx context.Context) ([]shimapi.ContainerState, error) {
	var resp shimapi.ListResponse
	if err := c.call(ctx, "List", shimapi.Empty{}, &resp); err != nil {
		return nil, err
	}
	return resp.Containers, nil
}

// Wait blocks until the container exited and returns its final state.
func (c *Client) Wait(ctx context.Context, id string) (*shimapi.ContainerState, error) {
	for {
		var st shimapi.ContainerState
		if err := c.call(ctx, "Wait", shimapi.WaitRequest{ID: id, Timeout: shimapi.MaxBlock}, &st); err != nil {
			return nil, err
		}
		if st.Status == shimapi.StatusExited {
			return &st, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Events returns the events after seq, waiting up to wait for one.
func (c *Client) Events(ctx context.Context, after uint64, wait time.Duration) (*shimapi.EventsResponse, error) {
	var resp shimapi.EventsResponse
	if err := c.call(ctx, "Events", shimapi.EventsRequest{After: after, Wait: wait}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Subscribe streams events after seq until ctx is done or the shim goes
// away; then the channel is closed.
func (c *Client) Subscribe(ctx context.Context, after uint64) <-chan shimapi.Event {
	ch := make(chan shimapi.Event, 16)
	go func() {
		defer close(ch)
		for ctx.Err() == nil {
			resp, err := c.Events(ctx, after, shimapi.MaxBlock)
			if err != nil {
				return
			}
			for _, e := range resp.Events {
				select {
				case ch <- e:
				case <-ctx.Done():
					return
				}
			}
			after = resp.Next
		}
	}()
	return ch
}

// ExecSync runs a process in a running container and returns its output
// and exit code; at req.Timeout the process is killed and TimedOut set.
func (c *Client) ExecSync(ctx context.Context, req shimapi.ExecRequest) (*shimapi.ExecResult, error) {
	var res shimapi.ExecResult
	if err := c.call(ctx, "Exec", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Pids lists the host pids of a container's processes.
func (c *Client) Pids(ctx context.Context, id string) ([]int, error) {
	var resp shimapi.PidsResponse
	if err := c.call(ctx, "Pids", shimapi.IDRequest{ID: id}, &resp); err != nil {
		return nil, err
	}
	return resp.Pids, nil
}

// Checkpoint dumps a running container with CRIU.
func (c *Client) Checkpoint(ctx context.Context, req shimapi.CheckpointRequest) error {
	return c.call(ctx, "Checkpoint", req, &shimapi.Empty{})
}

// Pause freezes a container's processes.
func (c *Client) Pause(ctx context.Context, id string) error {
	return c.call(ctx, "Pause", shimapi.IDRequest{ID: id}, &shimapi.Empty{})
}

// Resume thaws a container's processes.
func (c *Client) Resume(ctx context.Context, id string) error {
	return c.call(ctx, "Resume", shimapi.IDRequest{ID: id}, &shimapi.Empty{})
}

// Update changes a container's resources.
func (c *Client) Update(ctx context.Context, req shimapi.UpdateRequest) error {
	return c.call(ctx, "Update", req, &shimapi.Empty{})
}

// ReopenLog reopens a container's log file after rotation.
func (c *Client) ReopenLog(ctx context.Context, id string) error {
	return c.call(ctx, "ReopenLog", shimapi.IDRequest{ID: id}, &shimapi.Empty{})
}

// Shutdown makes the shim exit; with force it first kills and deletes the
// containers that are left, otherwise it refuses while any is not exited.
func (c *Client) Shutdown(ctx context.Context, force bool) error {
	return c.call(ctx, "Shutdown", shimapi.ShutdownRequest{Force: force}, &shimapi.Empty{})
}

// ReadRecords returns the container states a shim last persisted in
// stateDir, with their exit records: what a restarted daemon reconciles
// with when the shim itself is gone.
func ReadRecords(stateDir string) ([]shimapi.ContainerState, error) {
	st, err := store.OpenVolatile(shimapi.StoreDir(stateDir))
	if err != nil {
		return nil, err
	}
	var out []shimapi.ContainerState
	var errs []error
	err = st.Walk(shimapi.BucketContainers, func(id string, _ int, decode func(v any) error) error {
		var cs shimapi.ContainerState
		if err := decode(&cs); err != nil {
			return err
		}
		if cs.Exit == nil {
			var rec shimapi.ExitRecord
			if _, err := st.Get(shimapi.BucketExits, id, &rec); err == nil {
				cs.Exit, cs.Status = &rec, shimapi.StatusExited
			}
		}
		out = append(out, cs)
		return nil
	}, func(id string, err error) { errs = append(errs, fmt.Errorf("container record %s: %w", id, err)) })
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}
