package container

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/cdi"
	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/selinux"
)

// HostSpecs assembles a container's OCI spec on the node: it resolves what
// the pure pkg/oci builders need from the host and the container's rootfs
// (the user, devices, the runtime handler's features, the cgroup path,
// seccomp profiles), builds the spec, then fits it to the host (cgroup
// controllers, CDI devices, the capability bounding set) and stages the
// idmapped mounts of a pod user namespace. It is the SpecBuilder of the
// daemon; tests use fakes.
type HostSpecs struct {
	// Driver is the cgroup driver the containers' cgroup paths are for.
	Driver cgroups.Driver
	// CgroupNamespace gives each container a cgroup namespace (cgroup v2).
	CgroupNamespace bool
	// Handlers resolves the pod's runtime handler, whose features decide
	// what a mount may ask for; nil supports nothing optional.
	Handlers interface {
		Lookup(name string) (runtime.Handler, error)
	}
	// UserNamespaces says whether the handler's pods may have a user
	// namespace; nil means none may.
	UserNamespaces func(ctx context.Context, handler string) bool
	// TmpfsIDMap says whether the kernel idmaps tmpfs (Linux 6.3); when
	// it does not, the idmapped mounts of a container in a pod user
	// namespace may not be tmpfs (refuseIDMappedTmpfs). nil means it does.
	TmpfsIDMap func(ctx context.Context) bool
	// IDMapDir holds, per container, the idmapped bind mounts of
	// containers in a pod user namespace (stageIDMappedMounts).
	IDMapDir string
	// Host fits resources to the host's cgroups.
	Host cgroups.HostResources
	// CDI resolves the containers' CDI devices; nil refuses them.
	CDI *cdi.Registry
	// DeviceOwnershipFromSecurityContext: see oci.ContainerInput.
	DeviceOwnershipFromSecurityContext bool
	// AppArmor confines containers when the host has it; nil means it
	// does not.
	AppArmor AppArmor
	// SELinux labels containers when the host has it; nil means it does
	// not.
	SELinux SELinux

	oomOnce sync.Once
	minOOM  *int
}

var _ SpecBuilder = (*HostSpecs)(nil)

// Build implements SpecBuilder.
func (b *HostSpecs) Build(ctx context.Context, in SpecInput) (*specs.Spec, error) {
	cfg := in.Config
	sc := cfg.GetLinux().GetSecurityContext()
	user, err := oci.ResolveUser(oci.RootFS(in.Rootfs), oci.UserRequestFromCRI(sc, in.Image.Config.User))
	if err != nil {
		return nil, fmt.Errorf("resolve user: %w", err)
	}
	devices, err := oci.ResolveDevices(cfg.GetDevices())
	if err != nil {
		return nil, err
	}
	input := oci.ContainerInput{
		Config: cfg, Pod: in.Pod.Config, Image: in.Image.Config,
		RootfsPath: in.Rootfs, Namespaces: in.Pod.Namespaces, PodFiles: in.Pod.Files,
		User: user, Devices: devices, CgroupNamespace: b.CgroupNamespace,
		MinOOMScoreAdj: b.minOOMScoreAdj(ctx), AppArmor: b.appArmor(),

		DeviceOwnershipFromSecurityContext: b.DeviceOwnershipFromSecurityContext,
	}
	if input.Features, err = b.features(ctx, in.Pod.RuntimeHandler); err != nil {
		return nil, err
	}
	input.SELinuxLabel, input.SELinuxMountLabel = in.SELinux.Process, in.SELinux.Mount
	if err := b.relabelMounts(in); err != nil {
		return nil, err
	}
	input.Namespaces.TargetPID = in.TargetPIDNamespace
	input.MountSources = in.MountSources
	if input.CgroupsPath, err = cgroups.ChildPath(b.Driver, in.Pod.CgroupParent, in.ID); err != nil {
		return nil, err
	}
	if sc.GetPrivileged() {
		if input.HostDevices, err = oci.HostDevices(); err != nil {
			return nil, err
		}
	}
	if p, ok := oci.SeccompLocalhostPath(sc); ok {
		if input.SeccompLocalhost, err = oci.LoadSeccompProfile(p); err != nil {
			return nil, err
		}
	}
	spec, err := oci.BuildContainerSpec(input)
	if err != nil {
		return nil, err
	}
	if err := b.checkAppArmor(ctx, spec.Process.ApparmorProfile); err != nil {
		return nil, err
	}
	if err := b.Host.Fit(spec.Linux.Resources); err != nil {
		return nil, err
	}
	if err := b.applyCDI(cfg, spec); err != nil {
		return nil, err
	}
	oci.RestrictCapabilities(spec.Process, oci.BoundingSet())
	oci.SetRootfsPropagation(spec)
	if err := oci.Validate(spec); err != nil {
		return nil, err
	}
	if in.Pod.Namespaces.User != "" {
		if err := b.checkTmpfsIDMaps(ctx, spec); err != nil {
			return nil, err
		}
		// Removed with the rootfs (Rootfs.Unmount).
		if err := stageIDMappedMounts(spec, filepath.Join(b.IDMapDir, in.ID), in.Pod.Namespaces.User); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// checkTmpfsIDMaps refuses the idmapped tmpfs mounts of spec, a container
// in a pod user namespace, when the kernel cannot idmap tmpfs.
func (b *HostSpecs) checkTmpfsIDMaps(ctx context.Context, spec *specs.Spec) error {
	if b.TmpfsIDMap == nil || b.TmpfsIDMap(ctx) {
		return nil
	}
	return refuseIDMappedTmpfs(spec)
}

// SELinux is the host's SELinux (pkg/selinux.SELinux).
type SELinux interface {
	// Enabled reports whether containers get labels here.
	Enabled() bool
	// ContainerLabels are a container's labels at its pod's level unless
	// its options name one.
	ContainerLabels(o selinux.Options, pod selinux.Labels) (selinux.Labels, error)
	// Relabel gives path and what lies below it the mount label.
	Relabel(path, mountLabel string) error
}

// SELinuxLabels implements SpecBuilder: the container's labels, at its
// pod's level unless its options name one. A privileged container gets no
// process label, as containerd and CRI-O give it none: the policy moves
// it to its unconfined container domain (spc_t) when it executes its
// entrypoint. Without SELinux the options are ignored, as containerd
// ignores them, and said so at V(2).
func (b *HostSpecs) SELinuxLabels(ctx context.Context, cfg *runtimeapi.ContainerConfig, pod Pod) (selinux.Labels, error) {
	sc := cfg.GetLinux().GetSecurityContext()
	o := sc.GetSelinuxOptions()
	if b.SELinux == nil || !b.SELinux.Enabled() {
		if o != nil {
			klog.FromContext(ctx).V(2).Info("SELinux is not enabled on this host: the container's SELinux options are ignored", "containerName", cfg.GetMetadata().GetName(), "options", o.String())
		}
		return selinux.Labels{}, nil
	}
	l, err := b.SELinux.ContainerLabels(selinux.Options{User: o.GetUser(), Role: o.GetRole(), Type: o.GetType(), Level: o.GetLevel()}, pod.SELinux)
	if err != nil {
		return selinux.Labels{}, err
	}
	if sc.GetPrivileged() {
		l.Process = ""
	}
	return l, nil
}

// relabelMounts relabels the volumes that ask for it (selinux_relabel)
// with the container's mount label, as containerd does.
func (b *HostSpecs) relabelMounts(in SpecInput) error {
	if b.SELinux == nil || in.SELinux.Mount == "" {
		return nil
	}
	for _, m := range in.Config.GetMounts() {
		if !m.GetSelinuxRelabel() {
			continue
		}
		src, ok := in.MountSources[m.GetContainerPath()]
		if !ok {
			src = m.GetHostPath()
		}
		if err := b.SELinux.Relabel(src, in.SELinux.Mount); err != nil {
			return fmt.Errorf("mount %s: %w", m.GetContainerPath(), err)
		}
	}
	return nil
}

// AppArmor is the host's AppArmor (pkg/apparmor.AppArmor).
type AppArmor interface {
	// Enabled reports whether containers are confined here.
	Enabled() bool
	// DefaultProfile is what RuntimeDefault means.
	DefaultProfile() string
	// Ensure checks that a container may start under profile: the
	// default one is loaded again if it went missing, any other must be
	// loaded (else errdefs.ErrInvalidArgument naming it).
	Ensure(ctx context.Context, profile string) error
}

// appArmor is what the spec builder knows of the host's AppArmor.
func (b *HostSpecs) appArmor() oci.AppArmor {
	if b.AppArmor == nil || !b.AppArmor.Enabled() {
		return oci.AppArmor{}
	}
	return oci.AppArmor{Enabled: true, DefaultProfile: b.AppArmor.DefaultProfile()}
}

// checkAppArmor refuses a profile the kernel has not loaded, at create
// rather than at start, with the profile's name (as containerd does).
func (b *HostSpecs) checkAppArmor(ctx context.Context, profile string) error {
	if profile == "" || b.AppArmor == nil {
		return nil
	}
	return b.AppArmor.Ensure(ctx, profile)
}

// features are what the pod's runtime handler supports; without a handler
// lookup (tests) nothing optional is.
func (b *HostSpecs) features(ctx context.Context, handler string) (oci.Features, error) {
	if b.Handlers == nil {
		return oci.Features{}, nil
	}
	h, err := b.Handlers.Lookup(handler)
	if err != nil {
		return oci.Features{}, err
	}
	return oci.Features{
		RecursiveReadOnlyMounts: runtime.SupportsRecursiveReadOnly(ctx, h),
		UserNamespaces:          b.UserNamespaces != nil && b.UserNamespaces(ctx, handler),
	}, nil
}

// minOOMScoreAdj is the daemon's own oom_score_adj: without
// CAP_SYS_RESOURCE a container cannot go lower, so requests are clamped to
// it (said once in the log) instead of failing.
func (b *HostSpecs) minOOMScoreAdj(ctx context.Context) *int {
	b.oomOnce.Do(func() {
		if oci.HasCapSysResource() {
			return
		}
		v, err := oci.OwnOOMScoreAdj()
		if err != nil {
			klog.FromContext(ctx).Error(err, "cannot read own oom_score_adj; container values are not clamped")
			return
		}
		b.minOOM = &v
		klog.FromContext(ctx).Info("no CAP_SYS_RESOURCE: container oom_score_adj values below the daemon's are raised to it", "min", v)
	})
	return b.minOOM
}

// applyCDI adds the container's CDI devices (CRI CDI_devices) from the spec
// dirs.
func (b *HostSpecs) applyCDI(cfg *runtimeapi.ContainerConfig, spec *specs.Spec) error {
	var names []string
	for _, d := range cfg.GetCDIDevices() {
		names = append(names, d.GetName())
	}
	if len(names) == 0 {
		return nil
	}
	if b.CDI == nil {
		return fmt.Errorf("CDI devices %v: no CDI spec dirs configured: %w", names, errdefs.ErrInvalidArgument)
	}
	edits, err := b.CDI.Resolve(names)
	if err != nil {
		return err
	}
	return edits.Apply(spec)
}
