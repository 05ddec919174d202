package daemon

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

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/pkg/nsutil"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/sandbox"
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
	if want.User != nil {
		return n.pinWithUser(nsDir, want)
	}
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

// startPodInit starts the pod init with clone flags and, for a new user
// namespace, its id mappings.
func (n namespaces) startPodInit(flags uintptr, ids *oci.IDMappings) (int, error) {
	bin := n.binary
	if bin == "" {
		bin = "/proc/self/exe"
	}
	cmd := exec.Command(bin, PodInitArg)
	cmd.Dir = "/"
	cmd.Env = []string{"GOMAXPROCS=1", "GOGC=50"}
	// Its own session, so that the daemon's signals and exit leave it alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: flags}
	if ids != nil {
		cmd.SysProcAttr.UidMappings = sysMappings(ids.UIDs)
		cmd.SysProcAttr.GidMappings = sysMappings(ids.GIDs)
		// "allow": a "deny" would stick to the namespace, and its
		// containers need setgroups for their supplemental groups.
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	}
	if err := cmd.Start(); err != nil {
		if ids != nil && errors.Is(err, os.ErrPermission) {
			return 0, fmt.Errorf("start pod init in a user namespace: %s must be executable by the pod's root (host uid %d): %w", bin, ids.RootUID(), err)
		}
		return 0, fmt.Errorf("start pod init: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}

func sysMappings(in []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(in))
	for i, m := range in {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// pinWithUser makes the pod's user namespace and, owned by it, the other
// namespaces it wants, all in one clone of the pod init: a namespace
// created by a process in the user namespace belongs to it, which lets the
// containers (whose root is unprivileged on the host) mount /proc, sysfs
// and mqueue and set the namespaced sysctls. The daemon, root of the
// initial namespace, can still enter them for CNI, the hostname and lo.
// The init stays when the pod shares a pid namespace, else it is killed
// once the namespaces are pinned.
func (n namespaces) pinWithUser(nsDir string, want sandbox.NamespaceSet) (_ sandbox.Namespaces, retErr error) {
	if err := os.MkdirAll(nsDir, 0o711); err != nil {
		return sandbox.Namespaces{}, fmt.Errorf("create namespace dir %s: %w", nsDir, err)
	}
	flags := uintptr(unix.CLONE_NEWUSER)
	kinds := []nsutil.Kind{nsutil.User}
	for _, k := range []struct {
		ok   bool
		flag uintptr
		kind nsutil.Kind
	}{{want.Network, unix.CLONE_NEWNET, nsutil.Net}, {want.IPC, unix.CLONE_NEWIPC, nsutil.IPC}, {want.UTS, unix.CLONE_NEWUTS, nsutil.UTS}, {want.PID, unix.CLONE_NEWPID, nsutil.PID}} {
		if k.ok {
			flags |= k.flag
			kinds = append(kinds, k.kind)
		}
	}
	pid, err := n.startPodInit(flags, want.User)
	if err != nil {
		return sandbox.Namespaces{}, err
	}
	defer func() {
		if retErr != nil || !want.PID {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		if retErr != nil {
			_ = nsutil.UnpinAll(nsDir)
		}
	}()
	if want.PID {
		if err := os.WriteFile(filepath.Join(nsDir, podInitPidFile), []byte(strconv.Itoa(pid)), 0o600); err != nil {
			return sandbox.Namespaces{}, fmt.Errorf("record pod init pid: %w", err)
		}
	}
	pinned := map[nsutil.Kind]string{}
	for _, k := range kinds {
		target := filepath.Join(nsDir, string(k))
		if err := nsutil.PinFromPID(pid, k, target); err != nil {
			return sandbox.Namespaces{}, fmt.Errorf("pin %s namespace of pod init %d: %w", k, pid, err)
		}
		pinned[k] = target
	}
	if err := setUpPinned(pinned, want); err != nil {
		return sandbox.Namespaces{}, err
	}
	return sandbox.Namespaces{User: pinned[nsutil.User], Network: pinned[nsutil.Net], IPC: pinned[nsutil.IPC], UTS: pinned[nsutil.UTS], PID: pinned[nsutil.PID]}, nil
}

// setUpPinned sets the hostname and brings lo up in namespaces that were
// made by the pod init rather than by nsutil.Create.
func setUpPinned(pinned map[nsutil.Kind]string, want sandbox.NamespaceSet) error {
	if p := pinned[nsutil.UTS]; p != "" && want.Hostname != "" {
		if err := nsutil.Do(p, func() error { return unix.Sethostname([]byte(want.Hostname)) }); err != nil {
			return fmt.Errorf("set hostname %q of pod: %w", want.Hostname, err)
		}
	}
	if p := pinned[nsutil.Net]; p != "" {
		if err := nsutil.Do(p, nsutil.LoopbackUp); err != nil {
			return fmt.Errorf("bring lo up in pod network namespace: %w", err)
		}
	}
	return nil
}

// pinPID starts the pod init in a new pid namespace and pins that
// namespace at nsDir/pid.
func (n namespaces) pinPID(nsDir string) (string, error) {
	if err := os.MkdirAll(nsDir, 0o711); err != nil {
		return "", fmt.Errorf("create namespace dir %s: %w", nsDir, err)
	}
	pid, err := n.startPodInit(unix.CLONE_NEWPID, nil)
	if err != nil {
		return "", err
	}
	target := filepath.Join(nsDir, string(nsutil.PID))
	err = os.WriteFile(filepath.Join(nsDir, podInitPidFile), []byte(strconv.Itoa(pid)), 0o600)
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
