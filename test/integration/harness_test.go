package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
)

// cricketdBin is the daemon binary under test: $CRICKETD_BIN, or one built
// once by TestMain. Its shim, cricket-shim, must be in the same directory
// (make build puts both in bin/).
var cricketdBin string

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCricketd(m, &cricketdBin))
}

// daemon is one cricketd started by a test, with private root, state and
// socket, stopped (SIGTERM, then SIGKILL) when the test ends.
type daemon struct {
	t      *testing.T
	Dir    string
	Root   string
	State  string
	Socket string
	Config string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{}
}

// newDaemon prepares a daemon's directories without starting it.
func newDaemon(t *testing.T) *daemon {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	return &daemon{
		t:      t,
		Dir:    dir,
		Root:   filepath.Join(dir, "root"),
		State:  filepath.Join(dir, "state"),
		Socket: filepath.Join(dir, "state", "cricket.sock"),
		Config: filepath.Join(dir, "cricket.toml"),
	}
}

// startDaemon starts a daemon with default settings and waits until it serves.
func startDaemon(t *testing.T) *daemon {
	d := newDaemon(t)
	d.Start()
	return d
}

func (d *daemon) args(extra ...string) []string {
	args := []string{"--root", d.Root, "--state", d.State, "--listen", d.Socket, "-v", "4"}
	if _, err := os.Stat(d.Config); err == nil {
		args = append(args, "--config", d.Config)
	}
	return append(args, extra...)
}

// Start runs the daemon and waits for its socket to answer Version.
func (d *daemon) Start(extra ...string) {
	d.t.Helper()
	d.cmd = exec.Command(cricketdBin, d.args(extra...)...)
	d.log = &bytes.Buffer{}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start cricketd: %v", err)
	}
	d.exited = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	d.t.Cleanup(d.Stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			d.t.Fatalf("cricketd exited at start: %v\n%s", d.cmd.ProcessState, d.log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.Runtime().Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("cricketd did not serve %s in time\n%s", d.Socket, d.log)
}

// Signal sends sig to the daemon and waits up to timeout for it to exit.
func (d *daemon) Signal(sig syscall.Signal, timeout time.Duration) (exited bool) {
	if d.cmd == nil || d.cmd.Process == nil {
		return true
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop ends the daemon: SIGTERM, then SIGKILL.
func (d *daemon) Stop() {
	if d.exited == nil {
		return
	}
	select {
	case <-d.exited:
		return
	default:
	}
	if !d.Signal(syscall.SIGTERM, 15*time.Second) {
		d.Signal(syscall.SIGKILL, 5*time.Second)
	}
	if d.t.Failed() {
		d.t.Logf("cricketd log:\n%s", d.log)
	}
}

func (d *daemon) conn() *grpc.ClientConn {
	d.t.Helper()
	conn, err := grpc.NewClient("unix://"+d.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { conn.Close() })
	return conn
}

// Runtime returns a CRI runtime client connected to the daemon.
func (d *daemon) Runtime() runtimeapi.RuntimeServiceClient {
	return runtimeapi.NewRuntimeServiceClient(d.conn())
}

// Image returns a CRI image client connected to the daemon.
func (d *daemon) Image() runtimeapi.ImageServiceClient {
	return runtimeapi.NewImageServiceClient(d.conn())
}

// Crictl runs crictl against the daemon and returns its combined output.
func (d *daemon) Crictl(args ...string) (string, error) {
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

// runDaemonOnce runs cricketd with args to completion and returns its exit
// code and output.
func runDaemonOnce(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cricketdBin, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("cricketd %v did not exit within %v\n%s", args, timeout, out)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run cricketd: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}
