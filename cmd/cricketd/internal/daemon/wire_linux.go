package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/apparmor"
	"github.com/cricket-cri/cricket/pkg/cdi"
	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/nri"
)

// Options are what the daemon hands to New.
type Options struct {
	// State is the daemon's volatile state dir (/run/cricket): pods live
	// in State/pods/<id>, container bundles in State/containers/<id>.
	State string
	// Root is the daemon's persistent root dir (/var/lib/cricket); with
	// SELinux the pod init's labelled binary is kept in Root/selinux (the
	// state dir may be on a noexec mount, as Debian's /run is).
	Root string
	// Store persists pod and container records (under the root dir).
	Store *store.Store
	// Images is the image service; its snapshot store holds the layers.
	Images *image.Service
	// Handlers are the configured runtime handlers.
	Handlers *runtime.Registry
	// DefaultHandler is the handler of pods that name none; empty means
	// the built-in one.
	DefaultHandler string
	// CgroupDriver is "cgroupfs" (default) or "systemd".
	CgroupDriver string
	// Network attaches pods to the pod network; nil leaves each pod with
	// its own network namespace holding only lo.
	Network sandbox.Network
	// Events is told of container life-cycle events.
	Events container.EventPublisher
	// NRI, when set, serves Node Resource Interface plugins.
	NRI *nri.Config
	// CDISpecDirs are where containers' CDI devices are looked up; nil
	// means cdi.DefaultSpecDirs.
	CDISpecDirs []string
	// AppArmorDefaultProfile names Cricket's default AppArmor profile;
	// empty means apparmor.DefaultProfile.
	AppArmorDefaultProfile string
	// ShimBinary is executed as the per-pod shim ("BINARY __shim ...",
	// cmd/cricket-shim) and as the pod init ("BINARY __podinit",
	// pkg/podinit); empty means this executable, which must then
	// dispatch "__shim" to shimserver.Main.
	ShimBinary string
	// AbsentMountSourcesToReject are missing host paths refused rather
	// than created (container.Options).
	AbsentMountSourcesToReject []string
	// DeviceOwnershipFromSecurityContext: see oci.ContainerInput.
	DeviceOwnershipFromSecurityContext bool
	// HandlerPlatforms are the image platforms of the handlers that have
	// one, by name ("" for the default handler): containers resolve image
	// names as pulled for their pod's handler.
	HandlerPlatforms map[string]string
}

// Services are the pod and container services, recovered and ready.
type Services struct {
	Pods       *sandbox.Service
	Containers *container.Service
	// NRI serves NRI plugins; nil when NRI is disabled.
	NRI *nri.NRI
	// AppArmor is the host's AppArmor (Enabled is false without it).
	AppArmor *apparmor.AppArmor
	// SELinux labels pods and containers (Enabled is false without it).
	SELinux *selinux.SELinux

	userns   *userNamespaces
	handlers *handlerSet
}

// SetHandlers replaces the runtime handlers: a new one is usable at once,
// a removed one is refused to new pods and kept for the pods that use it.
// The default handler cannot go; a handler cannot change in place.
func (s *Services) SetHandlers(reg *runtime.Registry) error {
	return s.handlers.set(reg)
}

// UserNamespaces reports whether pods of a runtime handler may have their
// own user namespace (RuntimeHandlerFeatures.user_namespaces).
func (s *Services) UserNamespaces(ctx context.Context, handler string) bool {
	return s.userns.Supported(ctx, handler)
}

// Run runs the services' background loops until ctx ends: the shim
// monitor (sandbox.Service.MonitorShims) marks NotReady every ready pod
// whose shim died. The daemon's serve loop owns it and ends it on
// shutdown.
func (s *Services) Run(ctx context.Context) {
	s.Pods.MonitorShims(ctx)
}

// New builds the pod and container services over the real layers and
// recovers the pods and containers of a previous run (pods first). What
// cannot be recovered is logged and skipped. It starts no background
// loop: see Run.
func New(ctx context.Context, opts Options) (*Services, error) {
	if opts.State == "" || opts.Store == nil || opts.Images == nil || opts.Handlers == nil {
		return nil, fmt.Errorf("pod services: state dir, store, images and handlers are required: %w", errdefs.ErrInvalidArgument)
	}
	driver := cgroups.Driver(opts.CgroupDriver)
	cg, err := cgroups.New(cgroups.Config{Driver: driver})
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	handlers := newHandlerSet(opts.Handlers, opts.DefaultHandler)
	var hooks *nri.NRI
	sandboxNRI, containerNRI := sandbox.NRI(sandbox.NoNRI{}), container.NRI(container.NoNRI{})
	if opts.NRI != nil {
		cfg := *opts.NRI
		cfg.PluginError = nriPluginError
		hooks = nri.New(cfg)
		sandboxNRI, containerNRI = hooks, hooks
	}
	idmapDir := filepath.Join(opts.State, "idmap")
	userns := &userNamespaces{
		binary: opts.ShimBinary, dir: opts.Images.Snapshots().Root(), lookup: handlers,
		bundles: filepath.Join(opts.State, "containers"),
	}
	aa, err := apparmor.New(ctx, apparmor.Options{DefaultProfile: opts.AppArmorDefaultProfile, Dir: filepath.Join(opts.State, "apparmor")})
	if err != nil {
		return nil, fmt.Errorf("apparmor: %w", err)
	}
	sel := selinux.New(nil)
	ns := namespaces{binary: opts.ShimBinary}
	if !sel.Enabled() {
		klog.FromContext(ctx).V(2).Info("SELinux is not enabled on this host: pods' and containers' SELinux options are ignored")
	} else {
		// The pod init runs at its pod's label, from a copy of the
		// binary that label may be entered by.
		fileLabel, err := sel.SharedFileLabel()
		if err != nil {
			return nil, err
		}
		// The image layers, which containers read through their
		// overlay rootfs, are container content.
		if err := sel.LabelReadOnlyContent(opts.Images.Snapshots().Root()); err != nil {
			return nil, err
		}
		if opts.Root == "" {
			return nil, fmt.Errorf("pod services: the root dir is required with SELinux: %w", errdefs.ErrInvalidArgument)
		}
		if ns.labelledBinary, err = prepareLabelledInit(opts.ShimBinary, filepath.Join(opts.Root, "selinux"), fileLabel, sel.Relabel); err != nil {
			return nil, err
		}
		// A user-namespace pod's /dev/mqueue is labelled by runc.
		ns.ipcAfterUser = true
	}
	host := cgroups.NewHostResources(cg)
	if !host.Hugetlb() {
		klog.FromContext(ctx).Info("no hugetlb cgroup controller on this host: containers' hugepage limits are left out")
	}
	pool := newShims(shimclient.Options{Binary: opts.ShimBinary, SystemdCgroup: driver == cgroups.Systemd}, handlers)
	sbs, err := sandbox.New(sandbox.Options{
		StateDir:       filepath.Join(opts.State, "pods"),
		Store:          opts.Store,
		Namespaces:     ns,
		Files:          podFiles{relabel: sel.RelabelShared},
		Cgroups:        podCgroups{mgr: cg, driver: cg2driver(driver)},
		Shims:          pool,
		Network:        opts.Network,
		NRI:            sandboxNRI,
		CheckHandler:   handlers.CheckNew,
		UserNamespaces: func(name string) bool { return userns.Supported(ctx, name) },
		Labels:         sel,
	})
	if err != nil {
		return nil, err
	}
	criu := runtime.ProbeCRIU(ctx)
	if criu.Usable() {
		klog.FromContext(ctx).Info("CRIU is usable: checkpoint and restore are available", "path", criu.Path, "version", criu.Version)
	} else {
		klog.FromContext(ctx).Info("checkpoint and restore are unavailable", "reason", criu.Err.Error())
	}
	ctrs, err := container.New(container.Options{
		StateDir: filepath.Join(opts.State, "containers"),
		IDMapDir: idmapDir,
		Store:    opts.Store,
		Pods:     sbs,
		Images:   images{svc: opts.Images, platforms: opts.HandlerPlatforms},
		Rootfs:   rootfs{snaps: opts.Images.Snapshots(), artifacts: opts.Images, idmapDir: idmapDir, relabel: sel.Relabel},
		Spec: &container.HostSpecs{
			Driver: cg2driver(driver), CgroupNamespace: cg.Mode() == cgroups.Unified, Host: host, Handlers: handlers,
			CDI: cdiRegistry(opts.CDISpecDirs), UserNamespaces: userns.Supported, TmpfsIDMap: userns.TmpfsIDMap, IDMapDir: idmapDir,
			DeviceOwnershipFromSecurityContext: opts.DeviceOwnershipFromSecurityContext,
			AppArmor:                           aa, SELinux: sel,
		},
		Shims:    pool,
		LookPath: container.FSLookPath(oci.RootFS),
		Events:   opts.Events,
		NRI:      containerNRI,
		// Updates are fitted to the host like new containers.
		FitResources: host.Fit,
		// Pinning needs CAP_SYS_ADMIN; the daemon runs as root.
		PinHostMounts:              os.Geteuid() == 0,
		AbsentMountSourcesToReject: opts.AbsentMountSourcesToReject,
		Orphans:                    orphans{mgr: cg},
		CRIU:                       func() error { return criu.Err },
	})
	if err != nil {
		return nil, err
	}
	sbs.SetContainers(ctrs)
	sbs.Load(ctx)
	ctrs.Load(ctx)
	// Plugins connect only once the pods and containers of a previous
	// run are back, so that they synchronize with all of them.
	if hooks != nil {
		if err := hooks.Start(sbs, ctrs); err != nil {
			return nil, err
		}
	}
	return &Services{Pods: sbs, Containers: ctrs, NRI: hooks, AppArmor: aa, SELinux: sel, userns: userns, handlers: handlers}, nil
}

func cg2driver(d cgroups.Driver) cgroups.Driver {
	if d == "" {
		return cgroups.Cgroupfs
	}
	return d
}

func cdiRegistry(dirs []string) *cdi.Registry {
	if dirs == nil {
		dirs = cdi.DefaultSpecDirs
	}
	return cdi.NewRegistry(dirs)
}
