package nsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/podinit"
)

// PodOptions say which namespaces a pod gets of its own.
type PodOptions struct {
	Network, IPC, UTS, PID bool
	// Hostname is set in a new UTS namespace.
	Hostname string
	// UIDMappings and GIDMappings, when set, ask for a user namespace with
	// these mappings that owns the other new namespaces.
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	// InitBinary is started as the pod init (podinit.Start) when one is
	// needed: for a pid or a user namespace. Empty means this executable.
	InitBinary string
	// InitLabel is the SELinux label the pod init runs at
	// (podinit.Options.Label); empty: the starter's.
	InitLabel string
	// InitExe, when set, is InitBinary opened (podinit.Options.Exe).
	InitExe *os.File
	// IPCAfterUser makes a pod's IPC namespace, with a user namespace,
	// after the user namespace is set up, by its root
	// (podinit.Options.UnshareIPC), so that its mqueue belongs to that
	// root; runc labels /dev/mqueue with SELinux and is refused
	// otherwise.
	IPCAfterUser bool
}

// PinPod creates the pod's namespaces and pins each at nsDir/<kind>. A pid
// namespace is held by a pod init that stays until UnpinPod; a user
// namespace is made by a pod init too (a multi-threaded process cannot
// unshare one), with the pod's other new namespaces. On error nothing
// stays pinned.
func PinPod(nsDir string, o PodOptions) (_ Pinned, retErr error) {
	if o.UIDMappings != nil {
		return pinWithUser(nsDir, o)
	}
	var kinds []Kind
	for _, k := range []struct {
		ok   bool
		kind Kind
	}{{o.Network, Net}, {o.IPC, IPC}, {o.UTS, UTS}} {
		if k.ok {
			kinds = append(kinds, k.kind)
		}
	}
	pinned := Pinned{}
	if len(kinds) > 0 {
		var err error
		if pinned, err = Create(nsDir, Options{Kinds: kinds, Hostname: o.Hostname, LoopbackUp: o.Network}); err != nil {
			return nil, err
		}
	}
	defer func() {
		if retErr != nil {
			_ = UnpinAll(nsDir)
		}
	}()
	if o.PID {
		p, err := pinPID(nsDir, podinit.Options{Binary: o.InitBinary, Label: o.InitLabel, Exe: o.InitExe})
		if err != nil {
			return nil, err
		}
		pinned[PID] = p
	}
	return pinned, nil
}

// pinWithUser makes the pod's user namespace and, owned by it, the other
// namespaces it wants, all in one clone of the pod init: a namespace
// created by a process in the user namespace belongs to it, which lets the
// containers (whose root is unprivileged on the host) mount /proc, sysfs
// and mqueue and set the namespaced sysctls. The daemon, root of the
// initial namespace, can still enter them for CNI, the hostname and lo.
// The init stays when the pod shares a pid namespace, else it is killed
// once the namespaces are pinned; such a transient init dies with the
// thread that started it (held locked meanwhile), so that a daemon killed
// while it pins leaves none behind: no record names it for the restarted
// daemon (test/fault found 60 left after one run).
func pinWithUser(nsDir string, o PodOptions) (_ Pinned, retErr error) {
	if err := os.MkdirAll(nsDir, 0o711); err != nil {
		return nil, fmt.Errorf("create namespace dir %s: %w", nsDir, err)
	}
	if !o.PID {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	flags := uintptr(unix.CLONE_NEWUSER)
	kinds := []Kind{User}
	for _, k := range []struct {
		ok   bool
		flag uintptr
		kind Kind
	}{{o.Network, unix.CLONE_NEWNET, Net}, {o.IPC, unix.CLONE_NEWIPC, IPC}, {o.UTS, unix.CLONE_NEWUTS, UTS}, {o.PID, unix.CLONE_NEWPID, PID}} {
		if k.ok {
			flags |= k.flag
			kinds = append(kinds, k.kind)
		}
	}
	lateIPC := o.IPC && o.IPCAfterUser
	if lateIPC {
		flags &^= unix.CLONE_NEWIPC
	}
	if o.PID {
		if err := podinit.MarkStarting(nsDir); err != nil {
			return nil, err
		}
	}
	pid, err := podinit.Start(podinit.Options{Binary: o.InitBinary, Cloneflags: flags, UIDMappings: o.UIDMappings, GIDMappings: o.GIDMappings,
		DieWithStarter: !o.PID, Tag: nsDir, Label: o.InitLabel, Exe: o.InitExe, UnshareIPC: lateIPC})
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil || !o.PID {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		if retErr != nil {
			_ = UnpinAll(nsDir)
		}
	}()
	if o.PID {
		if err := podinit.Record(nsDir, pid); err != nil {
			return nil, err
		}
	}
	pinned := Pinned{}
	for _, k := range kinds {
		target := filepath.Join(nsDir, string(k))
		if err := PinFromPID(pid, k, target); err != nil {
			return nil, fmt.Errorf("pin %s namespace of pod init %d: %w", k, pid, err)
		}
		pinned[k] = target
	}
	if err := setUpPinned(pinned, o); err != nil {
		return nil, err
	}
	return pinned, nil
}

// setUpPinned sets the hostname and brings lo up in namespaces that were
// made by the pod init rather than by Create.
func setUpPinned(pinned Pinned, o PodOptions) error {
	if p := pinned[UTS]; p != "" && o.Hostname != "" {
		if err := Do(p, func() error { return unix.Sethostname([]byte(o.Hostname)) }); err != nil {
			return fmt.Errorf("set hostname %q of pod: %w", o.Hostname, err)
		}
	}
	if p := pinned[Net]; p != "" {
		if err := Do(p, LoopbackUp); err != nil {
			return fmt.Errorf("bring lo up in pod network namespace: %w", err)
		}
	}
	return nil
}

// pinPID starts the pod init in a new pid namespace and pins that
// namespace at nsDir/pid; io says which binary to start, at which label.
func pinPID(nsDir string, io podinit.Options) (string, error) {
	if err := os.MkdirAll(nsDir, 0o711); err != nil {
		return "", fmt.Errorf("create namespace dir %s: %w", nsDir, err)
	}
	// A daemon killed before Record leaves this record; the pod's
	// teardown then finds the init by its tag.
	if err := podinit.MarkStarting(nsDir); err != nil {
		return "", err
	}
	io.Cloneflags, io.Tag = unix.CLONE_NEWPID, nsDir
	pid, err := podinit.Start(io)
	if err != nil {
		return "", err
	}
	target := filepath.Join(nsDir, string(PID))
	err = podinit.Record(nsDir, pid)
	if err == nil {
		err = PinFromPID(pid, PID, target)
	}
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return "", fmt.Errorf("pin pid namespace of pod init %d: %w", pid, err)
	}
	return target, nil
}

// UnpinPod ends the pod init, if the pod has one, and unpins every
// namespace PinPod pinned under nsDir; missing ones are no error.
func UnpinPod(nsDir string) error {
	if err := podinit.Kill(nsDir); err != nil {
		return err
	}
	return UnpinAll(nsDir)
}
