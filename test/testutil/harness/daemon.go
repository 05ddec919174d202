package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Daemon is a cricketd a test starts, stops, kills and restarts on the
// same directories. Its clients and its log outlive each run: the clients
// find a restarted daemon again at once, and the log holds the output of
// every run, each headed by a "=== start" line.
type Daemon struct {
	t   testing.TB
	Bin string
	// Dir holds the daemon's files: Root (--root), State (--state),
	// Socket (--listen) and Config (--config, passed when the file exists
	// at start).
	Dir, Root, State, Socket, Config string
	// Args are passed on every start, after the flags above.
	Args []string
	// Env is added to the daemon's environment.
	Env []string
	// LogFile, when set, gets the daemon's output too, appended over
	// every run; a failed test then names it instead of printing the log.
	LogFile string
	// Quiet keeps the log out of a failed test's output (the test saves
	// it itself).
	Quiet bool
	// OwnGroup starts the daemon in a process group of its own, so that
	// a ^C to the terminal reaches only the test, which then stops
	// everything in order.
	OwnGroup bool
	// StartTimeout bounds the wait for a started daemon to answer
	// Version; StopGrace the wait after SIGTERM before SIGKILL.
	StartTimeout, StopGrace time.Duration

	dial     []grpc.DialOption
	connOnce sync.Once
	conn     *grpc.ClientConn

	mu    sync.Mutex
	proc  *Proc
	extra []string
	log   bytes.Buffer
	out   io.Writer
	// runAt is where the last run's output starts in log.
	runAt int
}

// NewDaemon prepares a daemon of binary bin with its files in dir,
// without starting it; the caller may change its fields before the first
// start. dial adds options to its clients' connection.
func NewDaemon(t testing.TB, bin, dir string, dial ...grpc.DialOption) *Daemon {
	t.Helper()
	d := &Daemon{
		t: t, Bin: bin, Dir: dir,
		Root:         filepath.Join(dir, "root"),
		State:        filepath.Join(dir, "state"),
		Socket:       filepath.Join(dir, "state", "cricket.sock"),
		Config:       filepath.Join(dir, "cricket.toml"),
		StartTimeout: time.Minute,
		StopGrace:    30 * time.Second,
		dial:         dial,
	}
	// Registered first, so run last: after the Stop of every start and
	// whatever the test registered to clean up through the clients.
	t.Cleanup(func() {
		if d.conn != nil {
			d.conn.Close()
		}
		d.reportLog()
	})
	return d
}

// Start runs the daemon, with extra flags for this run, and waits until it
// answers Version; it fails the test otherwise. The daemon is stopped
// when the test ends.
func (d *Daemon) Start(extra ...string) {
	d.t.Helper()
	if err := d.TryStart(extra...); err != nil {
		d.t.Fatal(err)
	}
}

// TryStart is Start for goroutines other than the test's: it returns the
// error instead of failing the test.
func (d *Daemon) TryStart(extra ...string) error {
	cmd := exec.Command(d.Bin, d.Flags(extra...)...)
	if len(d.Env) > 0 {
		cmd.Env = append(os.Environ(), d.Env...)
	}
	if d.OwnGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	d.mu.Lock()
	if err := d.openLog(); err != nil {
		d.mu.Unlock()
		return err
	}
	d.runAt = d.log.Len()
	fmt.Fprintf(d.out, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	w := &lockedWriter{mu: &d.mu, w: d.out}
	cmd.Stdout, cmd.Stderr = w, w
	p, err := StartProc(cmd)
	if err != nil {
		d.mu.Unlock()
		return fmt.Errorf("start cricketd: %w", err)
	}
	d.proc, d.extra = p, extra
	d.mu.Unlock()
	d.t.Cleanup(func() { d.Stop() })
	return d.awaitServing(p)
}

// Flags is the command line of a start with extra flags.
func (d *Daemon) Flags(extra ...string) []string {
	args := []string{"--root", d.Root, "--state", d.State, "--listen", d.Socket}
	if _, err := os.Stat(d.Config); err == nil {
		args = append(args, "--config", d.Config)
	}
	return append(append(args, d.Args...), extra...)
}

// openLog sets up the writer of the daemon's output; d.mu is held.
func (d *Daemon) openLog() error {
	if d.out != nil {
		return nil
	}
	d.out = &d.log
	if d.LogFile != "" {
		f, err := os.OpenFile(d.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("daemon log: %w", err)
		}
		d.t.Cleanup(func() { f.Close() })
		d.out = io.MultiWriter(&d.log, f)
	}
	return nil
}

// awaitServing waits until the daemon answers Version.
func (d *Daemon) awaitServing(p *Proc) error {
	rt := d.Runtime()
	deadline := time.Now().Add(d.StartTimeout)
	for {
		if !p.Running() {
			return fmt.Errorf("cricketd exited at start: %s\n%s", p.State(), d.Tail(30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := rt.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			// Where it hangs: the goroutines' stacks go to the log.
			d.Quit()
			return fmt.Errorf("cricketd did not serve %s within %v: %v (SIGQUIT sent: its goroutines are in its log)", d.Socket, d.StartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the daemon (SIGTERM) and starts it again on the same
// directories, with the flags of its last start.
func (d *Daemon) Restart() {
	d.t.Helper()
	d.Stop()
	d.mu.Lock()
	extra := d.extra
	d.mu.Unlock()
	d.Start(extra...)
}

// current is the process of the daemon's last start, nil before any.
func (d *Daemon) current() *Proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc
}

// note writes a line into the daemon's log.
func (d *Daemon) note(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.out != nil {
		fmt.Fprintf(d.out, "=== "+format+" %s\n", append(args, time.Now().Format(time.RFC3339Nano))...)
	}
}

// Stop ends the daemon: SIGTERM, then SIGKILL after StopGrace. It reports
// whether the daemon ended on SIGTERM (or was not running).
func (d *Daemon) Stop() bool {
	p := d.current()
	if p == nil || !p.Running() {
		return true
	}
	d.note("SIGTERM")
	if p.Stop(d.StopGrace) {
		return true
	}
	d.t.Logf("cricketd (pid %d) ignored SIGTERM for %v; killed it", p.Pid(), d.StopGrace)
	return false
}

// Kill sends SIGKILL and waits for the daemon to be gone.
func (d *Daemon) Kill() {
	if p := d.current(); p != nil {
		d.note("SIGKILL")
		p.Kill()
	}
}

// Signal sends sig and waits up to timeout for the daemon to exit; it
// reports whether it did.
func (d *Daemon) Signal(sig syscall.Signal, timeout time.Duration) (exited bool) {
	p := d.current()
	if p == nil {
		return true
	}
	d.note("signal %v", sig)
	return p.Signal(sig, timeout)
}

// Quit makes a hung daemon dump its goroutines into the log (SIGQUIT) and
// waits up to 10 s for it to exit.
func (d *Daemon) Quit() {
	d.Signal(syscall.SIGQUIT, 10*time.Second)
}

// Running reports whether the daemon's last start still runs.
func (d *Daemon) Running() bool {
	p := d.current()
	return p != nil && p.Running()
}

// Pid is the pid of the daemon's last start, 0 before any.
func (d *Daemon) Pid() int {
	if p := d.current(); p != nil {
		return p.Pid()
	}
	return 0
}

// ExitCode is the exit code of the daemon's last run once it ended (-1
// while it runs or if a signal ended it).
func (d *Daemon) ExitCode() int {
	if p := d.current(); p != nil {
		return p.ExitCode()
	}
	return -1
}

// Log returns everything every run of the daemon wrote.
func (d *Daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// RunLog returns what the daemon's last run wrote.
func (d *Daemon) RunLog() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()[d.runAt:]
}

// Tail returns the last n lines of the log.
func (d *Daemon) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(d.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// reportLog puts the log (or the name of its file) into a failed test's
// output.
func (d *Daemon) reportLog() {
	switch {
	case !d.t.Failed() || d.Quiet:
	case d.LogFile != "":
		d.t.Logf("cricketd log: %s", d.LogFile)
	default:
		d.t.Logf("cricketd log:\n%s", d.Log())
	}
}

// Runtime is a CRI runtime client that survives restarts of the daemon.
func (d *Daemon) Runtime() runtimeapi.RuntimeServiceClient {
	return runtimeapi.NewRuntimeServiceClient(d.clientConn())
}

// Image is a CRI image client that survives restarts of the daemon.
func (d *Daemon) Image() runtimeapi.ImageServiceClient {
	return runtimeapi.NewImageServiceClient(d.clientConn())
}

// clientConn is the one connection of the daemon's clients, made on first
// use (to the Socket of that moment) and closed when the test ends.
func (d *Daemon) clientConn() *grpc.ClientConn {
	d.connOnce.Do(func() {
		opts := append([]grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			// A restarted daemon must be found again at once, not after
			// gRPC's default backoff of up to two minutes.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.5, MaxDelay: 500 * time.Millisecond},
				MinConnectTimeout: 2 * time.Second,
			}),
		}, d.dial...)
		conn, err := grpc.NewClient("unix://"+d.Socket, opts...)
		if err != nil {
			// Only a malformed target fails here, and the target is a path.
			panic(fmt.Sprintf("grpc client for %s: %v", d.Socket, err))
		}
		d.conn = conn
	})
	return d.conn
}

// Crictl runs crictl against the daemon and returns its combined output.
func (d *Daemon) Crictl(args ...string) (string, error) {
	d.t.Helper()
	bin, err := exec.LookPath("crictl")
	if err != nil {
		d.t.Fatalf("crictl is not installed (hack/deps.sh installs it): %v", err)
	}
	full := append([]string{"--runtime-endpoint", "unix://" + d.Socket, "--image-endpoint", "unix://" + d.Socket, "--timeout", "30s"}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Env = append(os.Environ(), "CRI_CONFIG_FILE=/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// lockedWriter serialises the daemon's stdout and stderr with the log's
// readers.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
