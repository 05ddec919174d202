package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/securefs"
	"github.com/cricket-cri/cricket/sandbox/internal/registrar"
)

// RunRequest asks for a new pod sandbox.
type RunRequest struct {
	Config         *runtimeapi.PodSandboxConfig
	RuntimeHandler string
}

// Run creates a pod sandbox and returns it Ready. Every step is rolled back
// in reverse when a later one fails. A request for a name whose earlier
// creation finished after its caller gave up gets that sandbox.
func (s *Service) Run(ctx context.Context, req RunRequest) (_ *Sandbox, retErr error) {
	cfg := req.Config
	if cfg.GetMetadata() == nil {
		return nil, fmt.Errorf("pod sandbox config without metadata: %w", errdefs.ErrInvalidArgument)
	}
	if s.opts.CheckHandler != nil {
		if err := s.opts.CheckHandler(req.RuntimeHandler); err != nil {
			return nil, fmt.Errorf("pod sandbox %s: %w", Name(cfg.GetMetadata()), err)
		}
	}
	if _, err := s.userNamespace(cfg, req.RuntimeHandler); err != nil {
		return nil, fmt.Errorf("pod sandbox %s: %w", Name(cfg.GetMetadata()), err)
	}
	md := Metadata{ID: registrar.NewID(), Name: Name(cfg.GetMetadata()), Config: cfg, RuntimeHandler: req.RuntimeHandler}
	adopted, err := s.names.Reserve(ctx, md.Name, md.ID)
	if err != nil {
		return nil, fmt.Errorf("reserve pod sandbox name: %w", err)
	}
	if adopted != "" {
		return s.adopt(ctx, md.Name, adopted)
	}
	defer func() {
		if retErr != nil {
			s.names.Release(md.Name, md.ID)
			return
		}
		s.names.Done(md.Name, md.ID, registrar.Answerable(ctx))
	}()
	unblock := s.opts.NRI.BlockSync()
	defer unblock()
	sb, err := s.create(ctx, md)
	if err != nil {
		return nil, err
	}
	klog.FromContext(ctx).Info("pod sandbox ready", "podSandboxID", sb.ID, "name", sb.Name)
	return sb, nil
}

// adopt answers with the sandbox an earlier, abandoned request created.
func (s *Service) adopt(ctx context.Context, name, id string) (*Sandbox, error) {
	sb, err := s.index.Get(id)
	if err != nil {
		return nil, fmt.Errorf("pod sandbox %s created for %q: %w", id, name, err)
	}
	s.names.Done(name, id, registrar.Answerable(ctx))
	klog.FromContext(ctx).Info("answering retried request with pod sandbox created after its first caller gave up", "podSandboxID", id)
	return sb, nil
}

// create runs the steps of Run after the name is reserved. md is filled in
// step by step; each resource has its own deferred rollback.
func (s *Service) create(ctx context.Context, md Metadata) (_ *Sandbox, retErr error) {
	md.StateDir = s.podDir(md.ID)
	// The first record names the pod's state dir and cgroup before either
	// exists, and it goes last on the way back: a kill at any moment
	// leaves a record that the restart tears down with all it names
	// (found by test/fault: a dir made before its record, or left by a
	// rollback that deleted the record first, outlived a kill).
	var err error
	if md.CgroupPath, md.CgroupOwned, err = s.opts.Cgroups.Path(md.ID, md.Config); err != nil {
		return nil, fmt.Errorf("cgroup of pod sandbox %s: %w", md.ID, err)
	}
	// Reserved in memory only: a restart reserves the labels of the pods
	// it recovers (Load).
	if md.SELinux, err = s.opts.Labels.PodLabels(podSELinuxOptions(md.Config)); err != nil {
		return nil, fmt.Errorf("selinux labels of pod sandbox %s: %w", md.ID, err)
	}
	defer undo(ctx, &retErr, "release selinux labels", func(context.Context) error {
		s.opts.Labels.Release(md.SELinux)
		return nil
	})
	if err := s.persist(md, Status{State: stateCreating}); err != nil {
		return nil, err
	}
	dirMade := false
	defer undo(ctx, &retErr, "delete record", func(context.Context) error {
		// A dir whose removal failed keeps its record: the next start
		// tries again.
		if _, err := os.Lstat(md.StateDir); dirMade && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("keep record of pod sandbox %s for the next start: its state dir %s is still there", md.ID, md.StateDir)
		}
		return s.opts.Store.Delete(bucket, md.ID)
	})
	if err := os.MkdirAll(filepath.Dir(md.StateDir), 0o711); err != nil {
		return nil, fmt.Errorf("create pods state dir: %w", err)
	}
	// Mkdir, not MkdirAll: two pods must never share a (shortened) dir.
	if err := os.Mkdir(md.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("create state dir of pod sandbox %s: %w", md.ID, err)
	}
	dirMade = true
	defer undo(ctx, &retErr, "remove state dir", func(context.Context) error { return securefs.RemoveAllUnmounted(md.StateDir) })

	// The teardown of a step is deferred before the step runs when it is
	// idempotent: a step that fails half-way must not leak its first half.
	defer undo(ctx, &retErr, "unpin namespaces", func(c context.Context) error { return s.opts.Namespaces.Unpin(c, md.StateDir) })
	want := wantNamespaces(md.Config, s.hostname)
	userns, err := s.userNamespace(md.Config, md.RuntimeHandler)
	if err != nil {
		return nil, err
	}
	want.User = userns
	want.ProcessLabel = podInitLabel(md)
	ns, err := s.opts.Namespaces.Pin(ctx, md.StateDir, want)
	if err != nil {
		return nil, fmt.Errorf("pin namespaces of pod sandbox %s: %w", md.ID, err)
	}
	md.Namespaces = ns

	// The shim needs nothing the network, files and cgroup steps make: it
	// starts alongside them (CNI alone takes tens of milliseconds).
	pod := ShimPod{ID: md.ID, StateDir: md.StateDir, RuntimeHandler: md.RuntimeHandler}
	shimStarted := s.startShim(ctx, pod)
	defer undo(ctx, &retErr, "stop shim", func(c context.Context) error {
		_ = shimStarted() // never stop a shim half-way through its start
		return s.opts.Shims.Stop(c, pod)
	})

	defer undo(ctx, &retErr, "tear down network", func(c context.Context) error { return s.teardownNetwork(c, md) })
	if md.Network, err = s.setupNetwork(ctx, md); err != nil {
		return nil, err
	}

	defer undo(ctx, &retErr, "remove pod files", func(c context.Context) error { return s.opts.Files.Remove(c, md.StateDir) })
	if md.Files, err = s.opts.Files.Write(ctx, md.StateDir, md.Config, md.Network, userns, md.SELinux.Mount); err != nil {
		return nil, fmt.Errorf("write files of pod sandbox %s: %w", md.ID, err)
	}

	defer undo(ctx, &retErr, "remove pod cgroup", func(c context.Context) error { return s.removeCgroup(c, md) })
	if md.CgroupOwned {
		if err := s.opts.Cgroups.Create(ctx, md.CgroupPath); err != nil {
			return nil, fmt.Errorf("create cgroup of pod sandbox %s: %w", md.ID, err)
		}
		// A cgroup made here is sized here (resources plus overhead): the
		// kubelet sizes the ones it makes.
		if r, ok := s.opts.Cgroups.(CgroupResizer); ok {
			lin := md.Config.GetLinux()
			if err := r.Resize(ctx, md.CgroupPath, lin.GetOverhead(), lin.GetResources()); err != nil {
				return nil, fmt.Errorf("size cgroup of pod sandbox %s: %w", md.ID, err)
			}
		}
	}

	if err := shimStarted(); err != nil {
		return nil, fmt.Errorf("start shim of pod sandbox %s: %w", md.ID, err)
	}

	md.CreatedAt = time.Now()
	sb := newSandbox(md, Status{State: StateReady}, s.persist)
	// Plugins see the pod before anyone else: until they are done it is
	// not listed, and no container can be created in it.
	defer undo(ctx, &retErr, "tell NRI plugins the pod is gone", func(c context.Context) error { return s.nriForget(c, sb) })
	if err := s.opts.NRI.RunPodSandbox(ctx, sb); err != nil {
		return nil, fmt.Errorf("NRI RunPodSandbox of pod sandbox %s: %w", md.ID, err)
	}
	if err := s.persist(md, sb.status); err != nil {
		return nil, err
	}
	s.index.Add(md.ID, sb)
	return sb, nil
}

// podInitLabel is the SELinux label of the pod's init: the pod's process
// label, none for a privileged pod (which the policy then runs as its
// unconfined container domain, as its privileged containers).
func podInitLabel(md Metadata) string {
	if md.Config.GetLinux().GetSecurityContext().GetPrivileged() {
		return ""
	}
	return md.SELinux.Process
}

func (s *Service) setupNetwork(ctx context.Context, md Metadata) (NetworkStatus, error) {
	if md.Namespaces.Network == "" {
		return NetworkStatus{}, nil
	}
	st, err := s.opts.Network.Setup(ctx, NetworkRequest{PodID: md.ID, NetNS: md.Namespaces.Network, Config: md.Config})
	if err != nil {
		return NetworkStatus{}, fmt.Errorf("set up network of pod sandbox %s: %w", md.ID, err)
	}
	return st, nil
}

// teardownNetwork detaches a pod that has a network of its own. The netns
// path is empty for a pod whose creation was cut short before it was
// recorded; CNI's DEL accepts that.
func (s *Service) teardownNetwork(ctx context.Context, md Metadata) error {
	if !wantNamespaces(md.Config, func() string { return "" }).Network {
		return nil
	}
	err := s.opts.Network.Teardown(ctx, NetworkRequest{PodID: md.ID, NetNS: md.Namespaces.Network, Config: md.Config})
	if err != nil {
		return fmt.Errorf("tear down network of pod sandbox %s: %w", md.ID, err)
	}
	return nil
}

// wantNamespaces: the pod owns network (and with it UTS) unless it uses the
// node's, IPC likewise, and PID only when its containers share one.
func wantNamespaces(cfg *runtimeapi.PodSandboxConfig, hostname func() string) NamespaceSet {
	o := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	hostNet := o.GetNetwork() == runtimeapi.NamespaceMode_NODE
	want := NamespaceSet{
		Network: !hostNet,
		UTS:     !hostNet,
		IPC:     o.GetIpc() != runtimeapi.NamespaceMode_NODE,
		PID:     o.GetPid() == runtimeapi.NamespaceMode_POD,
	}
	if want.UTS {
		want.Hostname = cfg.GetHostname()
		if want.Hostname == "" {
			// The kubelet always sends one; crictl may not.
			want.Hostname = hostname()
		}
	}
	return want
}

// userNamespace validates the pod's user namespace options against what
// its runtime handler supports; nil mappings mean the host's namespace.
func (s *Service) userNamespace(cfg *runtimeapi.PodSandboxConfig, handler string) (*oci.IDMappings, error) {
	o := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	supported := s.opts.UserNamespaces != nil && o.GetUsernsOptions() != nil && s.opts.UserNamespaces(handler)
	return oci.PodUserNamespace(o, supported)
}

// startShim starts the pod's shim in the background and returns a function
// that waits for that start and returns its error (the same every call).
// A panic of the start is raised again in the caller, where the RPC's
// panic handling sees it, instead of ending the daemon.
func (s *Service) startShim(ctx context.Context, pod ShimPod) func() error {
	type result struct {
		err      error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{panicked: r}
			}
		}()
		done <- result{err: s.opts.Shims.Start(ctx, pod)}
	}()
	return sync.OnceValue(func() error {
		r := <-done
		if r.panicked != nil {
			panic(r.panicked)
		}
		return r.err
	})
}

// removeCgroup removes the pod cgroup if Run created it.
func (s *Service) removeCgroup(ctx context.Context, md Metadata) error {
	if !md.CgroupOwned || md.CgroupPath == "" {
		return nil
	}
	return s.opts.Cgroups.Remove(ctx, md.CgroupPath)
}

// nriForget tells NRI plugins that a pod they were told of is gone.
func (s *Service) nriForget(ctx context.Context, sb *Sandbox) error {
	return errors.Join(s.opts.NRI.StopPodSandbox(ctx, sb), s.opts.NRI.RemovePodSandbox(ctx, sb))
}
