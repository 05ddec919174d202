package wire

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/nsutil"
)

// PodInitArg is os.Args[1] of a pod's pid-namespace init: cricketd
// re-executed in a new pid namespace, where it reaps orphans and sleeps.
// A pid namespace, unlike net, ipc and uts, dies with its pid 1, so a pod
// whose containers share one needs this process (the only one a pod has
// besides its shim). The entry point is handled in this package's init, so
// any binary that links this package serves it.
const PodInitArg = "__podinit"

const podInitPidFile = "pid.init"

func init() {
	if len(os.Args) > 1 && os.Args[1] == PodInitArg {
		os.Exit(PodInitMain())
	}
}

// PodInitMain is the pod init: it reaps every child the kernel hands it and
// exits on SIGTERM or SIGINT.
func PodInitMain() int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			return 0
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}

// namespaces adapts nsutil to sandbox.NamespacePinner.
type namespaces struct {
	// binary is re-executed as the pod init; default this executable.
	binary string
}

func (n namespaces) Pin(_ context.Context, dir string, want sandbox.NamespaceSet) (_ sandbox.Namespaces, retErr error) {
	defer metrics.ObservePhase(metrics.PhaseNamespaces, time.Now())
	nsDir := filepath.Join(dir, "ns")
	var kinds []nsutil.Kind
	for _, k := range []struct {
		ok   bool
		kind nsutil.Kind
	}{{want.Network, nsutil.Net}, {want.IPC, nsutil.IPC}, {want.UTS, nsutil.UTS}} {
		if k.ok {
			kinds = append(kinds, k.kind)
		}
	}
	var ns sandbox.Namespaces
	if len(kinds) > 0 {
		pinned, err := nsutil.Create(nsDir, nsutil.Options{Kinds: kinds, Hostname: want.Hostname, LoopbackUp: want.Network})
		if err != nil {
			return ns, err
		}
		ns = sandbox.Namespaces{Network: pinned[nsutil.Net], IPC: pinned[nsutil.IPC], UTS: pinned[nsutil.UTS]}
	}
	defer func() {
		if retErr != nil {
			_ = nsutil.UnpinAll(nsDir)
		}
	}()
	if want.PID {
		p, err := n.pinPID(nsDir)
		if err != nil {
			return sandbox.Namespaces{}, err
		}
		ns.PID = p
	}
	return ns, nil
}

// pinPID starts the pod init in a new pid namespace and pins that
// namespace at nsDir/pid.
func (n namespaces) pinPID(nsDir string) (string, error) {
	if err := os.MkdirAll(nsDir, 0o711); err != nil {
		return "", fmt.Errorf("create namespace dir %s: %w", nsDir, err)
	}
	bin := n.binary
	if bin == "" {
		bin = "/proc/self/exe"
	}
	cmd := exec.Command(bin, PodInitArg)
	cmd.Dir = "/"
	cmd.Env = []string{"GOMAXPROCS=1", "GOGC=50"}
	// Its own session, so that the daemon's signals and exit leave it alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: unix.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start pod init: %w", err)
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	target := filepath.Join(nsDir, string(nsutil.PID))
	err := os.WriteFile(filepath.Join(nsDir, podInitPidFile), []byte(strconv.Itoa(pid)), 0o600)
	if err == nil {
		err = nsutil.PinFromPID(pid, nsutil.PID, target)
	}
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return "", fmt.Errorf("pin pid namespace of pod init %d: %w", pid, err)
	}
	return target, nil
}

func (n namespaces) Unpin(_ context.Context, dir string) error {
	nsDir := filepath.Join(dir, "ns")
	if err := killPodInit(nsDir); err != nil {
		return err
	}
	return nsutil.UnpinAll(nsDir)
}

// killPodInit kills the pod init recorded in nsDir, after checking that
// the pid still is one (pids are reused). Its pid namespace, and every
// process left in it, dies with it.
func killPodInit(nsDir string) error {
	data, err := os.ReadFile(filepath.Join(nsDir, podInitPidFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pod init pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), PodInitArg) {
		return nil // gone, or the pid now belongs to someone else
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill pod init %d: %w", pid, err)
	}
	return nil
}
