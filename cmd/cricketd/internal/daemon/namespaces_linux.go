package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/pkg/nsutil"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/sandbox"
)

// namespaces adapts nsutil's pod namespaces to sandbox.NamespacePinner.
type namespaces struct {
	// binary is started as the pod init; default this executable.
	binary string
	// labelledBinary is started instead for a pod whose init runs at the
	// pod's SELinux label (sandbox.NamespaceSet.ProcessLabel): a copy of
	// binary labelled so that the policy lets a container process be
	// entered by it (prepareLabelledInit), open, executed through its fd
	// (podinit.Options.Exe). Nil without SELinux.
	labelledBinary *os.File
	// ipcAfterUser: see nsutil.PodOptions.IPCAfterUser; set with SELinux.
	ipcAfterUser bool
}

func (n namespaces) Pin(_ context.Context, dir string, want sandbox.NamespaceSet) (oci.NamespacePaths, error) {
	defer metrics.ObservePhase(metrics.PhaseNamespaces, time.Now())
	o := nsutil.PodOptions{
		Network: want.Network, IPC: want.IPC, UTS: want.UTS, PID: want.PID,
		Hostname: want.Hostname, InitBinary: n.binary, IPCAfterUser: n.ipcAfterUser,
	}
	o.InitBinary, o.InitLabel, o.InitExe = n.init(want.ProcessLabel, want.User != nil)
	if want.User != nil {
		o.UIDMappings, o.GIDMappings = want.User.UIDs, want.User.GIDs
	}
	pinned, err := nsutil.PinPod(filepath.Join(dir, "ns"), o)
	if err != nil {
		return oci.NamespacePaths{}, err
	}
	return oci.NamespacePaths{User: pinned[nsutil.User], Network: pinned[nsutil.Net], IPC: pinned[nsutil.IPC], UTS: pinned[nsutil.UTS], PID: pinned[nsutil.PID]}, nil
}

// init is the pod init's binary and SELinux label for a pod whose process
// label is label: the labelled copy at that label, or the binary at the
// daemon's own when there is no label or no copy (no SELinux). A pod with
// a user namespace (userns) keeps the daemon's label when its IPC
// namespace is made after its user namespace (ipcAfterUser): the init
// makes it, which the container domain may not (cap_userns sys_admin).
func (n namespaces) init(label string, userns bool) (binary, initLabel string, exe *os.File) {
	if label == "" || n.labelledBinary == nil || (userns && n.ipcAfterUser) {
		return n.binary, "", nil
	}
	return n.labelledBinary.Name(), label, n.labelledBinary
}

func (n namespaces) Unpin(_ context.Context, dir string) error {
	return nsutil.UnpinPod(filepath.Join(dir, "ns"))
}

// prepareLabelledInit copies the pod init's binary src (empty: this
// executable) to dir/pod-init and gives the copy fileLabel, the host's
// container file label at level s0 (container_file_t:s0): the reference
// policy lets container_t be entered only by container files, and the
// installed binary keeps the engine's label (container_engine_exec_t),
// which the shims need. Containerd's pause container is such a file too,
// from its image. It returns the copy's path; it is made anew at every
// start, so that it is the installed binary's; it is returned open (the
// daemon keeps it open for its lifetime).
func prepareLabelledInit(src, dir, fileLabel string, relabel func(path, label string) error) (*os.File, error) {
	if src == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("pod init binary: %w", err)
		}
		src = exe
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	dst := filepath.Join(dir, "pod-init")
	tmp, err := os.CreateTemp(dir, ".pod-init-*")
	if err != nil {
		return nil, fmt.Errorf("copy pod init binary: %w", err)
	}
	defer os.Remove(tmp.Name())
	in, err := os.Open(src)
	if err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("copy pod init binary: %w", err)
	}
	_, err = io.Copy(tmp, in)
	_ = in.Close()
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("copy pod init binary %s: %w", src, err)
	}
	if err := relabel(tmp.Name(), fileLabel); err != nil {
		return nil, fmt.Errorf("label pod init binary: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return nil, fmt.Errorf("install pod init binary: %w", err)
	}
	f, err := os.Open(dst)
	if err != nil {
		return nil, fmt.Errorf("open pod init binary: %w", err)
	}
	return f, nil
}
