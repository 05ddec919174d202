package shimserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// Files of the shim's own in the pod state dir, beside those of the shared
// layout (shimapi): its lock, and the state of its executors, one dir per
// runtime handler.
const (
	lockName   = "shim.lock"
	runtimeDir = "runtime"
)

// mainOptions are the shim's command-line flags.
type mainOptions struct {
	podID         string
	stateDir      string
	readyFD       int
	systemdCgroup bool
}

// Main is the shim process: "cricket-shim __shim --pod ID --state DIR". args are
// the arguments after "__shim". It returns the process exit code.
func Main(args []string) int {
	var o mainOptions
	fs := flag.NewFlagSet(shimapi.Arg, flag.ContinueOnError)
	fs.StringVar(&o.podID, "pod", "", "pod sandbox id")
	fs.StringVar(&o.stateDir, "state", "", "pod state directory (socket, records, runtime state)")
	fs.IntVar(&o.readyFD, "ready-fd", -1, "file descriptor to write \"ok\" to once serving")
	fs.BoolVar(&o.systemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.podID == "" || o.stateDir == "" {
		fmt.Fprintln(os.Stderr, "shim: --pod and --state are required")
		return 2
	}
	if err := serve(o); err != nil {
		fmt.Fprintf(os.Stderr, "shim of pod %s: %v\n", o.podID, err)
		return 1
	}
	return 0
}

func serve(o mainOptions) error {
	if err := runtime.SetSubreaper(); err != nil {
		return err
	}
	unlock, err := lockStateDir(o.stateDir)
	if err != nil {
		return err
	}
	defer unlock()
	// Terminal-style signals must not stop the monitor. Catching them (not
	// ignoring them) keeps the containers' default dispositions.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT)

	warnExeUnderStateDir(o.stateDir)
	reaper := runtime.ProcessReaper()
	srv, err := NewServer(Config{
		PodID:    o.podID,
		StateDir: o.stateDir,
		NewExecutor: func(h runtime.Handler) (runtime.Executor, error) {
			return runtime.New(h, runtime.Options{
				Root:          filepath.Join(o.stateDir, runtimeDir, h.Name),
				Reaper:        reaper,
				SystemdCgroup: o.systemdCgroup,
			})
		},
		Exits:  reaper,
		Signal: func(pid int, sig syscall.Signal) error { return unix.Kill(pid, sig) },
	})
	if err != nil {
		return err
	}
	if err := srv.Recover(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "shim: recover containers: %v\n", err)
	}
	sock := shimapi.SocketPath(o.stateDir)
	_ = os.Remove(sock) // a stale socket of a dead shim; the lock says none runs
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return fmt.Errorf("chmod %s: %w", sock, err)
	}
	streams, err := listenStreams(o.stateDir)
	if err != nil {
		return err
	}
	go srv.serveStreams(streams)
	pidFile := shimapi.PidPath(o.stateDir)
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o600)

	var once sync.Once
	done := make(chan struct{})
	stop := func() { once.Do(func() { close(done); _ = l.Close(); _ = streams.Close() }) }
	rs, err := newRPCServer(srv, stop)
	if err != nil {
		return err
	}
	signalReady(o.readyFD)
	srv.trim.Poke()
	for {
		conn, err := l.Accept()
		if err != nil {
			select {
			case <-done:
				_ = os.Remove(sock)
				_ = os.Remove(shimapi.StreamSocketPath(o.stateDir))
				_ = os.Remove(pidFile)
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like
			continue
		}
		go rs.ServeConn(conn)
	}
}

// listenStreams listens on the stream socket (see shimapi/stream.go).
func listenStreams(stateDir string) (*net.UnixListener, error) {
	path := shimapi.StreamSocketPath(stateDir)
	_ = os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

// newRPCServer exposes srv's API; stop is called after a Shutdown reply.
func newRPCServer(srv *Server, stop func()) (*rpc.Server, error) {
	rs := rpc.NewServer()
	if err := rs.RegisterName(shimapi.ServiceName, &service{s: srv, shutdown: stop}); err != nil {
		return nil, fmt.Errorf("register shim API: %w", err)
	}
	return rs, nil
}

// lockStateDir takes an exclusive flock on DIR/shim.lock for the life of the
// process, so that two shims never serve one pod.
func lockStateDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("create state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("flock(%s, LOCK_EX|LOCK_NB): another shim serves this pod: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}

// warnExeUnderStateDir warns when the binary's directory contains the state
// dir: libcontainer then cannot seal /proc/self/exe with a read-only
// overlayfs (the lower layers would overlap) and falls back to copying the
// whole binary into memory for every container it creates, which makes
// starts slower by tens of milliseconds.
func warnExeUnderStateDir(stateDir string) {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	dir := filepath.Dir(exe)
	if abs, err := filepath.Abs(stateDir); err == nil && strings.HasPrefix(abs+"/", dir+"/") {
		fmt.Fprintf(os.Stderr, "shim: warning: state dir %s is under the binary's dir %s: containers start slower (exe sealing falls back to a copy)\n", abs, dir)
	}
}

func signalReady(fd int) {
	if fd < 0 {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	_, _ = f.WriteString("ok\n")
	_ = f.Close()
}
