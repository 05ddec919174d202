package nri

import (
	"fmt"
	"slices"
	"strings"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Adjust applies the adjustment NRI plugins agreed on to spec. Keys marked
// for removal ("-key") remove what they name. What Cricket cannot apply
// (CDI devices, seccomp policies, network devices, RDT, block I/O and RDT
// classes) is an ErrInvalidArgument error rather than silently dropped.
func Adjust(spec *specs.Spec, a *api.ContainerAdjustment) error {
	if a == nil {
		return nil
	}
	if err := unsupported(a); err != nil {
		return err
	}
	if spec.Process == nil {
		spec.Process = &specs.Process{}
	}
	adjustAnnotations(spec, a.GetAnnotations())
	adjustMounts(spec, a.GetMounts())
	adjustEnv(spec.Process, a.GetEnv())
	adjustHooks(spec, a.GetHooks())
	if len(a.GetArgs()) > 0 {
		spec.Process.Args = slices.Clone(a.GetArgs())
	}
	adjustRlimits(spec.Process, a.GetRlimits())
	return adjustLinux(spec, a.GetLinux())
}

func unsupported(a *api.ContainerAdjustment) error {
	l := a.GetLinux()
	r := l.GetResources()
	var what []string
	for _, c := range []struct {
		set  bool
		name string
	}{
		{len(a.GetCDIDevices()) > 0, "CDI devices"},
		{l.GetSeccompPolicy() != nil, "seccomp policy"},
		{len(l.GetNetDevices()) > 0, "network devices"},
		{l.GetRdt() != nil, "RDT"},
		{r.GetBlockioClass() != nil, "block I/O class"},
		{r.GetRdtClass() != nil, "RDT class"},
	} {
		if c.set {
			what = append(what, c.name)
		}
	}
	if len(what) > 0 {
		return fmt.Errorf("adjustment of %s is not supported: %w", strings.Join(what, ", "), errdefs.ErrInvalidArgument)
	}
	return nil
}

func adjustAnnotations(spec *specs.Spec, in map[string]string) {
	for k, v := range in {
		if key, remove := api.IsMarkedForRemoval(k); remove {
			delete(spec.Annotations, key)
			continue
		}
		if spec.Annotations == nil {
			spec.Annotations = map[string]string{}
		}
		spec.Annotations[k] = v
	}
}

// adjustMounts replaces mounts at the same destination and keeps mounts
// sorted parents first, as the spec builder does.
func adjustMounts(spec *specs.Spec, in []*api.Mount) {
	for _, m := range in {
		dest, remove := m.IsMarkedForRemoval()
		spec.Mounts = slices.DeleteFunc(spec.Mounts, func(o specs.Mount) bool { return o.Destination == dest })
		if !remove {
			spec.Mounts = append(spec.Mounts, m.ToOCI(nil))
		}
	}
	if len(in) > 0 {
		slices.SortStableFunc(spec.Mounts, func(a, b specs.Mount) int {
			return strings.Count(a.Destination, "/") - strings.Count(b.Destination, "/")
		})
	}
}

func adjustEnv(p *specs.Process, in []*api.KeyValue) {
	for _, kv := range in {
		key, remove := kv.IsMarkedForRemoval()
		p.Env = slices.DeleteFunc(p.Env, func(e string) bool {
			k, _, _ := strings.Cut(e, "=")
			return k == key
		})
		if !remove {
			p.Env = append(p.Env, kv.ToOCI())
		}
	}
}

func adjustHooks(spec *specs.Spec, h *api.Hooks) {
	if h == nil {
		return
	}
	if spec.Hooks == nil {
		spec.Hooks = &specs.Hooks{}
	}
	add := func(dst *[]specs.Hook, src []*api.Hook) {
		for _, x := range src {
			*dst = append(*dst, x.ToOCI())
		}
	}
	add(&spec.Hooks.Prestart, h.GetPrestart()) //nolint:staticcheck // NRI still carries prestart hooks.
	add(&spec.Hooks.CreateRuntime, h.GetCreateRuntime())
	add(&spec.Hooks.CreateContainer, h.GetCreateContainer())
	add(&spec.Hooks.StartContainer, h.GetStartContainer())
	add(&spec.Hooks.Poststart, h.GetPoststart())
	add(&spec.Hooks.Poststop, h.GetPoststop())
}

func adjustRlimits(p *specs.Process, in []*api.POSIXRlimit) {
	for _, r := range in {
		p.Rlimits = slices.DeleteFunc(p.Rlimits, func(o specs.POSIXRlimit) bool { return o.Type == r.GetType() })
		p.Rlimits = append(p.Rlimits, specs.POSIXRlimit{Type: r.GetType(), Hard: r.GetHard(), Soft: r.GetSoft()})
	}
}

func adjustLinux(spec *specs.Spec, l *api.LinuxContainerAdjustment) error {
	if l == nil {
		return nil
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	adjustDevices(spec.Linux, l.GetDevices())
	if err := adjustNamespaces(spec.Linux, l.GetNamespaces()); err != nil {
		return err
	}
	adjustResources(spec.Linux, l.GetResources())
	if l.GetCgroupsPath() != "" {
		spec.Linux.CgroupsPath = l.GetCgroupsPath()
	}
	if o := l.GetOomScoreAdj(); o != nil {
		v := int(o.GetValue())
		spec.Process.OOMScoreAdj = &v
	}
	if p := l.GetIoPriority(); p != nil {
		spec.Process.IOPriority = p.ToOCI()
	}
	if s := l.GetScheduler(); s != nil {
		spec.Process.Scheduler = s.ToOCI()
	}
	if m := l.GetMemoryPolicy(); m != nil {
		spec.Linux.MemoryPolicy = m.ToOCI()
	}
	for k, v := range l.GetSysctl() {
		key, remove := api.IsMarkedForRemoval(k)
		if remove {
			delete(spec.Linux.Sysctl, key)
			continue
		}
		if spec.Linux.Sysctl == nil {
			spec.Linux.Sysctl = map[string]string{}
		}
		spec.Linux.Sysctl[k] = v
	}
	return nil
}

// adjustDevices adds device nodes and allows them in the device cgroup.
func adjustDevices(l *specs.Linux, in []*api.LinuxDevice) {
	for _, d := range in {
		path, remove := d.IsMarkedForRemoval()
		l.Devices = slices.DeleteFunc(l.Devices, func(o specs.LinuxDevice) bool { return o.Path == path })
		if remove {
			continue
		}
		dev := d.ToOCI()
		l.Devices = append(l.Devices, dev)
		if l.Resources == nil {
			l.Resources = &specs.LinuxResources{}
		}
		major, minor := dev.Major, dev.Minor
		l.Resources.Devices = append(l.Resources.Devices, specs.LinuxDeviceCgroup{
			Allow: true, Type: dev.Type, Major: &major, Minor: &minor, Access: "rwm",
		})
	}
}

func adjustNamespaces(l *specs.Linux, in []*api.LinuxNamespace) error {
	for _, n := range in {
		kind, remove := n.IsMarkedForRemoval()
		l.Namespaces = slices.DeleteFunc(l.Namespaces, func(o specs.LinuxNamespace) bool { return string(o.Type) == kind })
		if !remove {
			if kind == "" {
				return fmt.Errorf("namespace adjustment without a type: %w", errdefs.ErrInvalidArgument)
			}
			l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(kind), Path: n.GetPath()})
		}
	}
	return nil
}

// adjustResources overrides each resource the adjustment sets and keeps
// the others.
func adjustResources(l *specs.Linux, in *api.LinuxResources) {
	if in == nil {
		return
	}
	r := in.ToOCI()
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	out := l.Resources
	if in.GetMemory() != nil {
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		m := r.Memory
		setIf(&out.Memory.Limit, m.Limit)
		setIf(&out.Memory.Reservation, m.Reservation)
		setIf(&out.Memory.Swap, m.Swap)
		setIf(&out.Memory.Swappiness, m.Swappiness)
		setIf(&out.Memory.DisableOOMKiller, m.DisableOOMKiller)
	}
	if in.GetCpu() != nil {
		if out.CPU == nil {
			out.CPU = &specs.LinuxCPU{}
		}
		c := r.CPU
		setIf(&out.CPU.Shares, c.Shares)
		setIf(&out.CPU.Quota, c.Quota)
		setIf(&out.CPU.Period, c.Period)
		setIf(&out.CPU.RealtimeRuntime, c.RealtimeRuntime)
		setIf(&out.CPU.RealtimePeriod, c.RealtimePeriod)
		if c.Cpus != "" {
			out.CPU.Cpus = c.Cpus
		}
		if c.Mems != "" {
			out.CPU.Mems = c.Mems
		}
	}
	for _, h := range r.HugepageLimits {
		out.HugepageLimits = slices.DeleteFunc(out.HugepageLimits, func(o specs.LinuxHugepageLimit) bool { return o.Pagesize == h.Pagesize })
		out.HugepageLimits = append(out.HugepageLimits, h)
	}
	for k, v := range r.Unified {
		if out.Unified == nil {
			out.Unified = map[string]string{}
		}
		out.Unified[k] = v
	}
	out.Devices = append(out.Devices, r.Devices...)
	if r.Pids != nil && r.Pids.Limit != nil {
		out.Pids = r.Pids
	}
}

func setIf[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}
