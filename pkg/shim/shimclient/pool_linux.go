package shimclient

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
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// Pool keeps the daemon's one connection per pod shim, shared by everything
// that talks to the pod's shim. A connection that fails as unavailable is
// dropped (Drop) and redialled on next use.
type Pool struct {
	opts Options // Binary, SystemdCgroup, Env; per pod the rest

	mu      sync.Mutex
	clients map[string]*Client
}

// NewPool returns a pool that starts shims with opts (PodID and StateDir
// are set per pod).
func NewPool(opts Options) *Pool {
	return &Pool{opts: opts, clients: map[string]*Client{}}
}

func (p *Pool) cached(podID string) *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients[podID]
}

// keep makes c the pod's connection unless a concurrent dial won the race;
// it returns the connection to use.
func (p *Pool) keep(podID string, c *Client) *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.clients[podID]; old != nil && old != c {
		_ = c.Close()
		return old
	}
	p.clients[podID] = c
	return c
}

// Drop forgets c (if it still is the pod's connection) and closes it.
func (p *Pool) Drop(podID string, c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients[podID] == c {
		delete(p.clients, podID)
		_ = c.Close()
	}
}

// Start starts the pod's shim and keeps the connection to it.
func (p *Pool) Start(ctx context.Context, podID, stateDir string) error {
	o := p.opts
	o.PodID, o.StateDir = podID, stateDir
	// The start does not end with the request that asked for it (a shim
	// abandoned half-way through its start could not be stopped cleanly):
	// it is bounded by the shim's progress (start_linux.go), within
	// startCap.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startCap)
	defer cancel()
	c, err := Start(ctx, o)
	if err != nil {
		return err
	}
	p.keep(podID, c)
	return nil
}

// Connect returns the connection to the pod's running shim, dialling it
// (after a daemon restart) when there is none; a shim that is gone is an
// ErrUnavailable error.
func (p *Pool) Connect(ctx context.Context, podID, stateDir string) (*Client, error) {
	if c := p.cached(podID); c != nil {
		return c, nil
	}
	c, err := p.dial(ctx, podID, stateDir)
	if err != nil {
		return nil, err
	}
	return p.keep(podID, c), nil
}

// dial connects to the shim of stateDir and checks that it serves podID
// (any pod when podID is empty).
func (p *Pool) dial(ctx context.Context, podID, stateDir string) (*Client, error) {
	c, err := Connect(ctx, shimapi.SocketPath(stateDir))
	if err != nil {
		return nil, err
	}
	info, err := c.Info(ctx)
	if err == nil && podID != "" && info.PodID != podID {
		err = fmt.Errorf("shim at %s serves pod %s, not %s: %w", stateDir, info.PodID, podID, errdefs.ErrUnavailable)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Stop ends the pod's shim: a forced shutdown kills and deletes what is
// left of the pod's containers before the shim exits. A shim that does not
// answer is killed; one that is gone is no error. An empty podID stands
// for whichever pod the shim of stateDir serves (a state dir no record
// names); its connection is not kept.
func (p *Pool) Stop(ctx context.Context, podID, stateDir string) error {
	var c *Client
	var err error
	if podID == "" {
		c, err = p.dial(ctx, "", stateDir)
		if err == nil {
			defer c.Close()
		}
	} else {
		c, err = p.Connect(ctx, podID, stateDir)
	}
	if errors.Is(err, errdefs.ErrUnavailable) {
		// Gone, or alive without answering (wedged, or killed half-way
		// through its start): make sure it is gone.
		return killUnreachable(ctx, stateDir)
	}
	if err != nil {
		return err
	}
	info, infoErr := c.Info(ctx)
	err = c.Shutdown(ctx, true)
	p.Drop(podID, c)
	if err != nil && !errors.Is(err, errdefs.ErrUnavailable) {
		return fmt.Errorf("shut down shim of pod %s: %w", podID, err)
	}
	if infoErr == nil {
		// The shim exits just after answering; wait, so that removing the
		// pod's state dir never races it.
		awaitExit(ctx, info.Pid, exitWait)
	}
	return nil
}

// Alive reports, from its pid file, whether the shim of stateDir still
// runs. It reads two small files and dials nothing.
func Alive(stateDir string) bool {
	return recordedPid(stateDir) > 0
}

// recordedPid returns the pid recorded in stateDir/shim.pid if that
// process still is a shim of this state dir (pids are reused), else 0.
func recordedPid(stateDir string) int {
	data, err := os.ReadFile(shimapi.PidPath(stateDir))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), shimapi.Arg) || !strings.Contains(string(cmdline), stateDir) {
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

// killUnreachable kills the shim recorded in stateDir/shim.pid if that
// process still is a shim of this state dir (pids are reused), else every
// shim whose command line names stateDir: one spawned by a daemon killed
// before the shim wrote its pid file would otherwise live on, and make
// the state dir again after the pod's teardown removed it.
func killUnreachable(ctx context.Context, stateDir string) error {
	pids := []int{recordedPid(stateDir)}
	if pids[0] == 0 {
		pids = shimsNaming(stateDir)
	}
	for _, pid := range pids {
		if pid == 0 {
			continue
		}
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill unreachable shim %d: %w", pid, err)
		}
		awaitExit(ctx, pid, exitWait)
	}
	return nil
}

// shimsNaming lists the live processes whose command line is a shim's
// (shimapi.Arg) with "--state stateDir".
func shimsNaming(stateDir string) []int {
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(raw, []byte(stateDir)) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		isShim, names := false, false
		for i, a := range args {
			isShim = isShim || a == shimapi.Arg
			names = names || (a == "--state" && i+1 < len(args) && args[i+1] == stateDir)
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if isShim && names && err == nil && pid != os.Getpid() {
			out = append(out, pid)
		}
	}
	return out
}

// exitWait bounds the wait for a shim to exit after Shutdown.
const exitWait = 5 * time.Second

// awaitExit waits until pid is gone or a zombie, or max has passed: on
// a pidfd, which becomes readable the moment the process exits, or, on
// kernels without pidfd_open (before 5.3), by polling its state.
func awaitExit(ctx context.Context, pid int, max time.Duration) {
	deadline := time.Now().Add(max)
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		defer unix.Close(fd)
		for ctx.Err() == nil {
			left := time.Until(deadline)
			if left <= 0 {
				return
			}
			// Wake at least every 100 ms to notice a cancelled ctx.
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, int(min(left, 100*time.Millisecond)/time.Millisecond)+1)
			if n > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
				return
			}
		}
		return
	} else if errors.Is(err, unix.ESRCH) {
		return // already reaped
	}
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
