package fault

import (
	"bytes"
	"context"
	"fmt"
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

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
)

// cricketdBin is the daemon under test: $CRICKETD_BIN, or one TestMain
// builds.
var cricketdBin string

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCricketd(m, &cricketdBin))
}

const (
	busyboxRef = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
	httpdRef   = "registry.k8s.io/e2e-test-images/httpd:2.4.39-4"
)

// startMirror serves busybox (the workload's image) and httpd (the image
// pulled and removed while the daemon is killed) from 127.0.0.1.
func startMirror(t *testing.T) *imagebuild.Mirror {
	t.Helper()
	var specs []imagebuild.Spec
	for _, ref := range []string{busyboxRef, httpdRef} {
		s, ok := imagebuild.Lookup(ref)
		if !ok {
			t.Fatalf("%s is not in the image catalog", ref)
		}
		specs = append(specs, s)
	}
	m, err := imagebuild.StartMirror(context.Background(), "127.0.0.1:0", specs, imagebuild.MirrorOptions{})
	if err != nil {
		t.Fatalf("start mirror: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// daemon is a cricketd that the test kills and restarts on the same
// directories. Its log accumulates over every run.
type daemon struct {
	t                              *testing.T
	Dir, Root, State, Socket, Conf string
	certs                          string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    bytes.Buffer
	conn   *grpc.ClientConn
}

func newDaemon(t *testing.T, dir string, m *imagebuild.Mirror, n *podNet) *daemon {
	t.Helper()
	d := &daemon{
		t: t, Dir: dir,
		Root:   filepath.Join(dir, "root"),
		State:  filepath.Join(dir, "state"),
		Socket: filepath.Join(dir, "state", "cricket.sock"),
		Conf:   filepath.Join(dir, "cricket.toml"),
		certs:  filepath.Join(dir, "certs.d"),
	}
	if err := imagebuild.WriteHostsDir(d.certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("[network]\ncni_conf_dir = %q\ncni_bin_dirs = [%q]\ndefault_pod_subnet = \"\"\n", n.ConfDir, cniBinDir)
	if err := os.WriteFile(d.Conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+d.Socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A restarted daemon must be found again at once, not after
		// gRPC's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.5, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: 2 * time.Second,
		}),
		grpc.WithUnaryInterceptor(inflight.intercept))
	if err != nil {
		t.Fatal(err)
	}
	d.conn = conn
	t.Cleanup(func() { conn.Close() })
	return d
}

// Start runs the daemon and waits until it answers Version.
func (d *daemon) Start() {
	d.t.Helper()
	if err := d.start(); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemon) start() error {
	d.mu.Lock()
	cmd := exec.Command(cricketdBin, "--root", d.Root, "--state", d.State, "--listen", d.Socket,
		"--config", d.Conf, "--registry-config-path", d.certs, "-v", "2")
	fmt.Fprintf(&d.log, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &d.mu, w: &d.log}, &lockedWriter{mu: &d.mu, w: &d.log}
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		return fmt.Errorf("start cricketd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.cmd, d.exited = cmd, exited
	d.mu.Unlock()
	rt := d.Runtime()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("cricketd exited at start: %v\n%s", cmd.ProcessState, d.Log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := rt.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("cricketd did not serve %s within 60s", d.Socket)
}

// Kill sends SIGKILL and waits for the daemon to be gone.
func (d *daemon) Kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	fmt.Fprintf(&d.log, "=== SIGKILL %s\n", time.Now().Format(time.RFC3339Nano))
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Stop ends the daemon with SIGTERM (SIGKILL after 20 s).
func (d *daemon) Stop() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		d.Kill()
	}
}

// Quit makes a hung daemon dump its goroutines into the log (SIGQUIT).
func (d *daemon) Quit() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// Pid is the running daemon's pid.
func (d *daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Log returns everything every run of the daemon wrote.
func (d *daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// Runtime is a CRI runtime client that survives restarts of the daemon.
func (d *daemon) Runtime() runtimeapi.RuntimeServiceClient {
	return runtimeapi.NewRuntimeServiceClient(d.conn)
}

// Image is a CRI image client that survives restarts of the daemon.
func (d *daemon) Image() runtimeapi.ImageServiceClient {
	return runtimeapi.NewImageServiceClient(d.conn)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// procsOf lists the processes whose command line names the daemon's
// directory, without the daemon itself: shims, and whatever else runs
// from its state dir.
func procsOf(d *daemon) map[int]string {
	out := map[int]string{}
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	self := d.Pid()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(raw, []byte(d.Dir)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(f)), "%d", &pid); err != nil || pid == self {
			continue
		}
		out[pid] = strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
	}
	return out
}

// shimsOf maps the pid of every shim of d to its pod ID.
func shimsOf(d *daemon) map[int]string {
	out := map[int]string{}
	for pid, cmdline := range procsOf(d) {
		f := strings.Fields(cmdline)
		if len(f) < 2 || f[1] != "__shim" {
			continue
		}
		for i := range f[:len(f)-1] {
			if f[i] == "--pod" {
				out[pid] = f[i+1]
			}
		}
	}
	return out
}
