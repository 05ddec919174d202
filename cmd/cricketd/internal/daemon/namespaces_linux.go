package daemon

import (
	"context"
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
}

func (n namespaces) Pin(_ context.Context, dir string, want sandbox.NamespaceSet) (oci.NamespacePaths, error) {
	defer metrics.ObservePhase(metrics.PhaseNamespaces, time.Now())
	o := nsutil.PodOptions{
		Network: want.Network, IPC: want.IPC, UTS: want.UTS, PID: want.PID,
		Hostname: want.Hostname, InitBinary: n.binary,
	}
	if want.User != nil {
		o.UIDMappings, o.GIDMappings = want.User.UIDs, want.User.GIDs
	}
	pinned, err := nsutil.PinPod(filepath.Join(dir, "ns"), o)
	if err != nil {
		return oci.NamespacePaths{}, err
	}
	return oci.NamespacePaths{User: pinned[nsutil.User], Network: pinned[nsutil.Net], IPC: pinned[nsutil.IPC], UTS: pinned[nsutil.UTS], PID: pinned[nsutil.PID]}, nil
}

func (n namespaces) Unpin(_ context.Context, dir string) error {
	return nsutil.UnpinPod(filepath.Join(dir, "ns"))
}
