package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/cdi"
	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// specBuilder resolves what the pure pkg/oci builders need from the host
// and the container's rootfs, then builds the spec.
type specBuilder struct {
	driver   cgroups.Driver
	cgroupNS bool
	// handlers resolves the pod's runtime handler, whose features decide
	// what a mount may ask for.
	handlers interface {
		Lookup(name string) (runtime.Handler, error)
	}
	// userns says whether the handler's pods may have a user namespace;
	// nil means none may.
	userns *userNamespaces
	// idmapDir holds, per container, the idmapped bind mounts of
	// containers in a pod user namespace (stageIDMappedMounts).
	idmapDir string

	// host fits resources to the host's cgroups.
	host hostResources
	// cdi resolves the containers' CDI devices; nil refuses them.
	cdi *cdi.Registry

	oomOnce sync.Once
	minOOM  *int
}

func (b *specBuilder) Build(ctx context.Context, in container.SpecInput) (*specs.Spec, error) {
	cfg := in.Config
	sc := cfg.GetLinux().GetSecurityContext()
	user, err := oci.ResolveUser(oci.RootFS(in.Rootfs), oci.UserRequestFromCRI(sc, in.Image.Config.User))
	if err != nil {
		return nil, fmt.Errorf("resolve user: %w", err)
	}
	devices, err := resolveDevices(cfg.GetDevices())
	if err != nil {
		return nil, err
	}
	input := oci.ContainerInput{
		Config: cfg, Sandbox: in.Pod.Config, Image: in.Image.Config,
		RootfsPath: in.Rootfs, Namespaces: in.Pod.Namespaces, PodFiles: in.Pod.Files,
		User: user, Devices: devices, CgroupNamespace: b.cgroupNS,
		MinOOMScoreAdj: b.minOOMScoreAdj(ctx),
	}
	if input.Features, err = b.features(ctx, in.Pod.RuntimeHandler); err != nil {
		return nil, err
	}
	input.Namespaces.TargetPID = in.TargetPIDNamespace
	input.MountSources = in.MountSources
	if input.CgroupsPath, err = cgroups.ChildPath(b.driver, in.Pod.CgroupParent, in.ID); err != nil {
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
	if err := b.host.Fit(spec.Linux.Resources); err != nil {
		return nil, err
	}
	if err := b.applyCDI(cfg, spec); err != nil {
		return nil, err
	}
	restrictCapabilities(spec.Process, boundingSet())
	setRootfsPropagation(spec)
	if err := oci.Validate(spec); err != nil {
		return nil, err
	}
	if in.Pod.Namespaces.User != "" {
		// Removed with the rootfs (rootfs.Unmount).
		if err := stageIDMappedMounts(spec, filepath.Join(b.idmapDir, in.ID), in.Pod.Namespaces.User); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// features are what the pod's runtime handler supports; without a handler
// lookup (tests) nothing optional is.
func (b *specBuilder) features(ctx context.Context, handler string) (oci.Features, error) {
	if b.handlers == nil {
		return oci.Features{}, nil
	}
	h, err := b.handlers.Lookup(handler)
	if err != nil {
		return oci.Features{}, err
	}
	return oci.Features{
		RecursiveReadOnlyMounts: runtime.SupportsRecursiveReadOnly(ctx, h),
		UserNamespaces:          b.userns != nil && b.userns.Supported(ctx, handler),
	}, nil
}

// setRootfsPropagation makes the container's root shared when a mount is
// bidirectional, and a slave when one receives the host's mounts: a mount
// propagates only as far as the mounts above it let it (containerd does
// the same).
func setRootfsPropagation(spec *specs.Spec) {
	if spec.Linux == nil {
		return
	}
	for _, m := range spec.Mounts {
		switch {
		case slices.Contains(m.Options, "rshared"):
			spec.Linux.RootfsPropagation = "rshared"
			return
		case slices.Contains(m.Options, "rslave"):
			spec.Linux.RootfsPropagation = "rslave"
		}
	}
}

func resolveDevices(devs []*runtimeapi.Device) ([]oci.Device, error) {
	var out []oci.Device
	for _, d := range devs {
		r, err := oci.ResolveDevice(d)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

// minOOMScoreAdj is the daemon's own oom_score_adj: without
// CAP_SYS_RESOURCE a container cannot go lower, so requests are clamped to
// it (said once in the log) instead of failing.
func (b *specBuilder) minOOMScoreAdj(ctx context.Context) *int {
	b.oomOnce.Do(func() {
		if hasCapSysResource() {
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

// hasCapSysResource reports whether this process has CAP_SYS_RESOURCE in
// its effective set (and so may lower a child's oom_score_adj).
func hasCapSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// applyCDI adds the container's CDI devices (CRI CDI_devices) from the spec
// dirs.
func (b *specBuilder) applyCDI(cfg *runtimeapi.ContainerConfig, spec *specs.Spec) error {
	var names []string
	for _, d := range cfg.GetCDIDevices() {
		names = append(names, d.GetName())
	}
	if len(names) == 0 {
		return nil
	}
	if b.cdi == nil {
		return fmt.Errorf("CDI devices %v: no CDI spec dirs configured: %w", names, errdefs.ErrInvalidArgument)
	}
	edits, err := b.cdi.Resolve(names)
	if err != nil {
		return err
	}
	return edits.Apply(spec)
}
