// Package sandboxtest provides fakes of the layers the sandbox service runs
// on, so that it can be tested without root. All fakes of one Recorder share
// a call log, injected errors and a set of held resources, which tests use
// to check rollback order and leaks.
package sandboxtest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
	"github.com/cricket-cri/cricket/sandbox"
)

// Call names, used in Recorder.Calls and as keys of Recorder.Fail.
const (
	CallPin          = "Pin"
	CallUnpin        = "Unpin"
	CallWriteFiles   = "WriteFiles"
	CallRemoveFiles  = "RemoveFiles"
	CallCreateCgroup = "CreateCgroup"
	CallRemoveCgroup = "RemoveCgroup"
	CallResizeCgroup = "ResizeCgroup"
	CallStartShim    = "StartShim"
	CallConnectShim  = "ConnectShim"
	CallStopShim     = "StopShim"
	CallSetup        = "NetworkSetup"
	CallTeardown     = "NetworkTeardown"
	CallStopPod      = "StopPod"
	CallRemovePod    = "RemovePod"
)

// Recorder is shared by the fakes.
type Recorder struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]error
	held  map[string]bool
	seen  map[string]string
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{fail: map[string]error{}, held: map[string]bool{}, seen: map[string]string{}}
}

// Seen returns what a fake was last given under key: "init-label:<dir>"
// is the pod init's SELinux label Pin was asked for, "files-label:<dir>"
// the mount label Write was given.
func (r *Recorder) Seen(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[key]
}

func (r *Recorder) see(key, val string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[key] = val
}

// Fail makes every later call named call return err (nil clears it).
func (r *Recorder) Fail(call string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.fail, call)
		return
	}
	r.fail[call] = err
}

// ErrCrash, injected with Fail, makes the call panic instead of failing:
// the daemon dies in the middle of it, and no rollback runs (deferred
// rollbacks see no error).
var ErrCrash = errors.New("simulated crash")

// Calls returns the calls made so far, in order.
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// Held returns the resources acquired and not released, sorted.
func (r *Recorder) Held() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.held {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SetHeld marks a resource as held or released (tests that simulate a shim
// dying use it).
func (r *Recorder) SetHeld(res string, held bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if held {
		r.held[res] = true
	} else {
		delete(r.held, res)
	}
}

// call logs name and returns its injected error; on success it marks res
// acquired (acquire) or released.
func (r *Recorder) call(name, res string, acquire bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name)
	if err := r.fail[name]; err != nil {
		if err == ErrCrash {
			// What the call acquired before the crash stays held.
			if acquire && res != "" {
				r.held[res] = true
			}
			panic(ErrCrash)
		}
		return err
	}
	if res == "" {
		return nil
	}
	if acquire {
		r.held[res] = true
	} else {
		delete(r.held, res)
	}
	return nil
}

func (r *Recorder) isHeld(res string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held[res]
}

// Namespaces fakes sandbox.NamespacePinner.
type Namespaces struct{ R *Recorder }

// Pin pretends to pin the wanted namespaces under dir.
func (f Namespaces) Pin(_ context.Context, dir string, want sandbox.NamespaceSet) (oci.NamespacePaths, error) {
	var ns oci.NamespacePaths
	pick := func(ok bool, name string) string {
		if !ok {
			return ""
		}
		return filepath.Join(dir, "ns", name)
	}
	ns.Network, ns.IPC, ns.UTS, ns.PID = pick(want.Network, "net"), pick(want.IPC, "ipc"), pick(want.UTS, "uts"), pick(want.PID, "pid")
	ns.User = pick(want.User != nil, "user")
	f.R.see("init-label:"+dir, want.ProcessLabel)
	if err := f.R.call(CallPin, "ns:"+dir, true); err != nil {
		return oci.NamespacePaths{}, err
	}
	return ns, nil
}

// Unpin releases the namespaces pinned under dir.
func (f Namespaces) Unpin(_ context.Context, dir string) error {
	return f.R.call(CallUnpin, "ns:"+dir, false)
}

// Files fakes sandbox.PodFiles.
type Files struct{ R *Recorder }

// Write pretends to write the pod files under dir.
func (f Files) Write(_ context.Context, dir string, cfg *runtimeapi.PodSandboxConfig, _ sandbox.NetworkStatus, userns *oci.IDMappings, mountLabel string) (podfiles.Paths, error) {
	f.R.see("files-label:"+dir, mountLabel)
	if err := f.R.call(CallWriteFiles, "files:"+dir, true); err != nil {
		return podfiles.Paths{}, err
	}
	return podfiles.Paths{
		Hostname:   filepath.Join(dir, "hostname"),
		Hosts:      filepath.Join(dir, "hosts"),
		ResolvConf: filepath.Join(dir, "resolv.conf"),
		Shm:        filepath.Join(dir, "shm"),
		PodOwned:   userns != nil,
	}, nil
}

// Remove releases the files written under dir.
func (f Files) Remove(_ context.Context, dir string) error {
	return f.R.call(CallRemoveFiles, "files:"+dir, false)
}

// Cgroups fakes sandbox.Cgroups.
type Cgroups struct{ R *Recorder }

// Path returns <parent>/pod-<id>, owned.
func (f Cgroups) Path(podID string, cfg *runtimeapi.PodSandboxConfig) (string, bool, error) {
	return filepath.Join("/", cfg.GetLinux().GetCgroupParent(), "pod-"+podID), true, nil
}

// Create pretends to create the cgroup.
func (f Cgroups) Create(_ context.Context, path string) error {
	return f.R.call(CallCreateCgroup, "cgroup:"+path, true)
}

// Remove releases the cgroup.
func (f Cgroups) Remove(_ context.Context, path string) error {
	return f.R.call(CallRemoveCgroup, "cgroup:"+path, false)
}

// Resize pretends to resize the pod cgroup (sandbox.CgroupResizer).
func (f Cgroups) Resize(_ context.Context, path string, _, _ *runtimeapi.LinuxContainerResources) error {
	return f.R.call(CallResizeCgroup, "", false)
}

// Shims fakes sandbox.Shims.
type Shims struct{ R *Recorder }

// Start pretends to start the pod's shim.
func (f Shims) Start(_ context.Context, pod sandbox.ShimPod) error {
	return f.R.call(CallStartShim, "shim:"+pod.ID, true)
}

// Connect succeeds when the pod's shim is held (started and not stopped).
func (f Shims) Connect(_ context.Context, pod sandbox.ShimPod) error {
	if err := f.R.call(CallConnectShim, "", true); err != nil {
		return err
	}
	if !f.R.isHeld("shim:" + pod.ID) {
		return fmt.Errorf("shim of pod %s: %w", pod.ID, errdefs.ErrUnavailable)
	}
	return nil
}

// Alive reports whether the pod's shim is held.
func (f Shims) Alive(pod sandbox.ShimPod) bool {
	return f.R.isHeld("shim:" + pod.ID)
}

// Stop releases the pod's shim.
func (f Shims) Stop(_ context.Context, pod sandbox.ShimPod) error {
	return f.R.call(CallStopShim, "shim:"+pod.ID, false)
}

// Network fakes sandbox.Network; it hands out 10.88.0.x addresses.
type Network struct{ R *Recorder }

// Setup attaches the pod.
func (f Network) Setup(_ context.Context, req sandbox.NetworkRequest) (sandbox.NetworkStatus, error) {
	if err := f.R.call(CallSetup, "net:"+req.PodID, true); err != nil {
		return sandbox.NetworkStatus{}, err
	}
	return sandbox.NetworkStatus{IP: "10.88.0.2"}, nil
}

// Teardown detaches the pod.
func (f Network) Teardown(_ context.Context, req sandbox.NetworkRequest) error {
	return f.R.call(CallTeardown, "net:"+req.PodID, false)
}

// Containers fakes sandbox.Containers.
type Containers struct{ R *Recorder }

// StopPod records the call.
func (f Containers) StopPod(_ context.Context, podID string) error {
	return f.R.call(CallStopPod, "", false)
}

// RemovePod records the call.
func (f Containers) RemovePod(_ context.Context, podID string) error {
	return f.R.call(CallRemovePod, "", false)
}
