package oci

import (
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/podfiles"
)

// ImageConfig is the part of an image's config a container spec uses.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	StopSignal string
}

// ContainerInput is everything BuildContainerSpec needs, resolved by the
// caller: nothing here is looked up on the host by the builder.
type ContainerInput struct {
	Config *runtimeapi.ContainerConfig
	Pod    *runtimeapi.PodSandboxConfig
	Image  ImageConfig

	RootfsPath  string
	CgroupsPath string
	Namespaces  NamespacePaths
	PodFiles    podfiles.Paths
	Features    Features

	// User is the resolved identity (ResolveUser).
	User User
	// Devices are Config.Devices resolved on the host (ResolveDevice).
	Devices []Device
	// HostDevices are the host's devices, for a privileged container.
	HostDevices []Device
	// DeviceOwnershipFromSecurityContext makes Devices and HostDevices
	// owned by the container's run_as_user and run_as_group (0 for
	// unset), as the containerd and CRI-O key of that name does.
	DeviceOwnershipFromSecurityContext bool
	// AllCapabilities is what "ALL" and privileged grant: the daemon's
	// bounding set (CurrentCapabilities); nil means every known one.
	AllCapabilities []string
	// MountSources maps a CRI mount's container path to the host path to
	// bind: the safely resolved host_path, or an image volume's rootfs. A
	// mount missing here uses its host_path as given.
	MountSources map[string]string
	// SeccompLocalhost is the loaded Localhost profile, when one is asked
	// for (SeccompLocalhostPath, LoadSeccompProfile).
	SeccompLocalhost *specs.LinuxSeccomp

	AppArmor AppArmor
	// SELinuxLabel and SELinuxMountLabel are the container's labels
	// (pkg/selinux), empty without SELinux.
	SELinuxLabel, SELinuxMountLabel string
	CgroupNamespace                 bool
	// MinOOMScoreAdj, when set, is the lowest oom_score_adj allowed.
	MinOOMScoreAdj *int
	Rlimits        []specs.POSIXRlimit
	Annotations    map[string]string
	// Arch is the GOARCH the default seccomp profile is built for;
	// empty means this binary's.
	Arch string
}

// BuildContainerSpec builds the OCI spec of a CRI container. Invalid
// requests fail with errors wrapping errdefs.ErrInvalidArgument.
func BuildContainerSpec(in ContainerInput) (*specs.Spec, error) {
	if in.Config == nil {
		return nil, invalid("nil container config")
	}
	opts, err := containerOpts(in)
	if err != nil {
		return nil, err
	}
	return New(opts...)
}

func containerOpts(in ContainerInput) ([]SpecOpt, error) {
	cfg := in.Config
	sc := cfg.GetLinux().GetSecurityContext()
	if err := checkSecurityContext(sc, in.Pod); err != nil {
		return nil, err
	}
	args, err := ContainerArgs(cfg.GetCommand(), cfg.GetArgs(), in.Image.Entrypoint, in.Image.Cmd)
	if err != nil {
		return nil, err
	}
	env, err := containerEnv(in)
	if err != nil {
		return nil, err
	}
	nsOpts, userns, err := namespaceOptions(in)
	if err != nil {
		return nil, err
	}
	mounts, err := containerMounts(in, sc.GetReadonlyRootfs(), userns)
	if err != nil {
		return nil, err
	}
	workdir := cfg.GetWorkingDir()
	if workdir == "" {
		workdir = in.Image.WorkingDir
	}
	opts := []SpecOpt{
		WithDefaults(),
		WithRootfs(in.RootfsPath, sc.GetReadonlyRootfs()),
		WithProcessArgs(args...),
		WithEnv(env),
		WithCwd(workdir),
		WithTerminal(cfg.GetTty()),
		WithUser(in.User),
		WithMounts(mounts),
		WithNamespaces(nsOpts, in.Namespaces, in.CgroupNamespace, in.Features),
		WithSysctls(in.Pod.GetLinux().GetSysctls()),
		WithResources(cfg.GetLinux().GetResources()),
		WithNoNewPrivileges(sc.GetNoNewPrivs()),
		WithSELinuxLabels(in.SELinuxLabel, in.SELinuxMountLabel),
		WithCgroupsPath(in.CgroupsPath),
		WithRlimits(in.Rlimits),
		WithAnnotations(in.Annotations),
	}
	if res := cfg.GetLinux().GetResources(); res != nil {
		opts = append(opts, WithOOMScoreAdj(res.GetOomScoreAdj(), in.MinOOMScoreAdj))
	}
	return append(opts, securityOpts(in, sc)...), nil
}

// checkSecurityContext rejects the combinations the CRI forbids.
func checkSecurityContext(sc *runtimeapi.LinuxContainerSecurityContext, sb *runtimeapi.PodSandboxConfig) error {
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		return invalid("run_as_group is set without run_as_user or run_as_username")
	}
	if sc.GetPrivileged() && !sb.GetLinux().GetSecurityContext().GetPrivileged() {
		return invalid("privileged container in a non-privileged pod sandbox")
	}
	return nil
}

// namespaceOptions are the container's, or the pod's when the container
// carries none, with the pod's user namespace (containerUserNamespace),
// whose mappings are returned too (nil for the host's).
func namespaceOptions(in ContainerInput) (*runtimeapi.NamespaceOption, *IDMappings, error) {
	pod := in.Pod.GetLinux().GetSecurityContext().GetNamespaceOptions()
	o := in.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if o == nil {
		o = pod
	}
	m, err := containerUserNamespace(o, pod)
	if err != nil {
		return nil, nil, err
	}
	return &runtimeapi.NamespaceOption{
		Network: o.GetNetwork(), Pid: o.GetPid(), Ipc: o.GetIpc(), TargetId: o.GetTargetId(),
		UsernsOptions: pod.GetUsernsOptions(),
	}, m, nil
}

// containerEnv orders the environment as containerd does: HOSTNAME, the
// image's, then the CRI's, each replacing earlier values of its keys.
func containerEnv(in ContainerInput) ([]string, error) {
	cri, err := CRIEnv(in.Config.GetEnvs())
	if err != nil {
		return nil, err
	}
	var env []string
	if h := in.Pod.GetHostname(); h != "" {
		env = append(env, "HOSTNAME="+h)
	}
	env = append(env, in.Image.Env...)
	return append(env, cri...), nil
}

// containerMounts converts the CRI mounts and adds the pod's files where
// the CRI mounts leave their destination free. In a pod user namespace the
// bind mounts are idmapped through it, except image volumes (an overlay
// mount cannot be idmapped, and they are read-only anyway) and the pod's
// files when they already belong to its root (podfiles.Paths.PodOwned).
func containerMounts(in ContainerInput, readonlyRootfs bool, userns *IDMappings) ([]specs.Mount, error) {
	var user []specs.Mount
	notIDMapped := map[string]bool{}
	for _, m := range in.Config.GetMounts() {
		src, ok := in.MountSources[m.GetContainerPath()]
		if !ok {
			if m.GetImage().GetImage() != "" {
				return nil, invalid("image volume %s for %s was not resolved", m.GetImage().GetImage(), m.GetContainerPath())
			}
			src = m.GetHostPath()
		}
		sm, err := CRIMount(m, src, in.Features)
		if err != nil {
			return nil, err
		}
		if m.GetImage().GetImage() != "" {
			notIDMapped[sm.Destination] = true
		}
		user = append(user, sm)
	}
	pod := freePodFileMounts(user, PodFileMounts(in.PodFiles, readonlyRootfs))
	for _, p := range pod {
		if in.PodFiles.PodOwned {
			notIDMapped[p.Destination] = true
		}
	}
	out := append(user, pod...)
	idmapBindMounts(out, userns, notIDMapped)
	return out, nil
}

// securityOpts are applied last: privileged replaces capabilities, paths,
// devices and profiles wholesale, and the default seccomp profile depends
// on the final capabilities.
func securityOpts(in ContainerInput, sc *runtimeapi.LinuxContainerSecurityContext) []SpecOpt {
	if in.DeviceOwnershipFromSecurityContext {
		in.Devices, in.HostDevices = ownedDevices(in.Devices, sc), ownedDevices(in.HostDevices, sc)
	}
	if sc.GetPrivileged() {
		// A Localhost AppArmor profile still applies (withAppArmor).
		return []SpecOpt{WithDevices(in.Devices), WithPrivileged(in.HostDevices, in.AllCapabilities), withAppArmor(sc, in.AppArmor)}
	}
	arch := in.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	return []SpecOpt{
		WithCapabilities(sc.GetCapabilities(), in.AllCapabilities),
		procPaths(sc, in.Pod),
		WithDevices(in.Devices),
		withAppArmor(sc, in.AppArmor),
		WithSeccomp(sc.GetSeccomp(), sc.GetSeccompProfilePath(), in.SeccompLocalhost, arch),
	}
}

// ownedDevices are copies of devs owned by sc's run_as_user and
// run_as_group, 0 (root) for either when unset, so that a non-root
// container can open its devices. Like containerd, only the numeric CRI
// fields count, not the image's user.
func ownedDevices(devs []Device, sc *runtimeapi.LinuxContainerSecurityContext) []Device {
	uid, gid := uint32(sc.GetRunAsUser().GetValue()), uint32(sc.GetRunAsGroup().GetValue())
	out := make([]Device, len(devs))
	for i, d := range devs {
		d.UID, d.GID = uid, gid
		out[i] = d
	}
	return out
}

// procPaths applies the masked and read-only paths of sc. The kubelet
// always sends its default lists, and empty ones only for procMount:
// Unmasked (KEP-4265), which the Kubernetes API allows only with
// hostUsers: false. The CRI proto cannot tell an empty list from none, so
// in a pod with its own user namespace an empty list means no paths, as
// containerd and CRI-O read it everywhere; in any other pod it keeps the
// defaults, so that a client that sends no lists (crictl) gets a masked
// /proc where nothing can ask for an unmasked one.
func procPaths(sc *runtimeapi.LinuxContainerSecurityContext, pod *runtimeapi.PodSandboxConfig) SpecOpt {
	unmaskable := podUserNamespace(pod)
	return func(s *specs.Spec) error {
		masked, readonly := sc.GetMaskedPaths(), sc.GetReadonlyPaths()
		if unmaskable && len(masked) == 0 {
			s.Linux.MaskedPaths = nil
		}
		if unmaskable && len(readonly) == 0 {
			s.Linux.ReadonlyPaths = nil
		}
		if err := WithMaskedPaths(masked)(s); err != nil {
			return err
		}
		return WithReadonlyPaths(readonly)(s)
	}
}

// podUserNamespace reports whether the pod has its own user namespace
// (hostUsers: false). Mode POD is the enum's zero value, so the options
// must be there.
func podUserNamespace(pod *runtimeapi.PodSandboxConfig) bool {
	o := pod.GetLinux().GetSecurityContext().GetNamespaceOptions().GetUsernsOptions()
	return o != nil && o.GetMode() == runtimeapi.NamespaceMode_POD
}

func withAppArmor(sc *runtimeapi.LinuxContainerSecurityContext, aa AppArmor) SpecOpt {
	return func(s *specs.Spec) error {
		p, err := AppArmorProfile(sc.GetApparmor(), sc.GetApparmorProfile(), aa, sc.GetPrivileged())
		if err != nil {
			return err
		}
		return WithAppArmorProfile(p)(s)
	}
}
