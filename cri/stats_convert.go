package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func toCRIContainerStats(c *container.Container, cs *stats.ContainerStats) *runtimeapi.ContainerStats {
	ts := cs.Timestamp.UnixNano()
	out := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{
			Id: c.ID, Metadata: c.Config.GetMetadata(), Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
		},
		// CPU and memory are always present, empty while the container
		// has no cgroup: clients read them without nil checks.
		Cpu:    &runtimeapi.CpuUsage{Timestamp: ts},
		Memory: &runtimeapi.MemoryUsage{Timestamp: ts},
	}
	fillCgroupUsage(out.Cpu, out.Memory, cs.Cgroup)
	if cs.Cgroup != nil && cs.Cgroup.PSI != nil {
		out.Io = &runtimeapi.IoUsage{Timestamp: ts, Psi: toCRIPSI(cs.Cgroup.PSI.IO)}
	}
	if u := cs.WritableLayer; u != nil {
		out.WritableLayer = &runtimeapi.FilesystemUsage{
			Timestamp: ts, FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: cs.LayerRoot},
			UsedBytes: uint64Value(u.Bytes), InodesUsed: uint64Value(u.Inodes),
		}
	}
	return out
}

// fillCgroupUsage sets the CPU and memory figures of cg, if any.
func fillCgroupUsage(cpu *runtimeapi.CpuUsage, mem *runtimeapi.MemoryUsage, cg *stats.CgroupStats) {
	if cg == nil {
		return
	}
	cpu.UsageCoreNanoSeconds = uint64Value(cg.CPU.UsageNanos)
	if cg.NanoCores != nil {
		cpu.UsageNanoCores = uint64Value(*cg.NanoCores)
	}
	m := cg.Memory
	mem.WorkingSetBytes = uint64Value(m.WorkingSet)
	mem.UsageBytes = uint64Value(m.Usage)
	mem.RssBytes = uint64Value(m.RSS)
	mem.PageFaults = uint64Value(m.PageFaults)
	mem.MajorPageFaults = uint64Value(m.MajorPageFaults)
	if m.Limit > 0 {
		var avail uint64
		if m.Limit > m.WorkingSet {
			avail = m.Limit - m.WorkingSet
		}
		mem.AvailableBytes = uint64Value(avail)
	}
	if cg.PSI != nil {
		cpu.Psi = toCRIPSI(cg.PSI.CPU)
		mem.Psi = toCRIPSI(cg.PSI.Memory)
	}
}

func toCRIPSI(p cgroups.PSI) *runtimeapi.PsiStats {
	conv := func(d cgroups.PSIData) *runtimeapi.PsiData {
		return &runtimeapi.PsiData{Total: d.Total, Avg10: d.Avg10, Avg60: d.Avg60, Avg300: d.Avg300}
	}
	return &runtimeapi.PsiStats{Full: conv(p.Full), Some: conv(p.Some)}
}

func toCRIPodSandboxStats(sb *sandbox.Sandbox, ps *stats.PodStats, ctrs map[string]*container.Container) *runtimeapi.PodSandboxStats {
	ts := ps.Timestamp.UnixNano()
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu:     &runtimeapi.CpuUsage{Timestamp: ts},
		Memory:  &runtimeapi.MemoryUsage{Timestamp: ts},
		Process: &runtimeapi.ProcessUsage{Timestamp: ts},
	}
	fillCgroupUsage(linux.Cpu, linux.Memory, ps.Cgroup)
	if ps.Cgroup != nil {
		linux.Process.ProcessCount = uint64Value(ps.Cgroup.Pids.Current)
		if ps.Cgroup.PSI != nil {
			linux.Io = &runtimeapi.IoUsage{Timestamp: ts, Psi: toCRIPSI(ps.Cgroup.PSI.IO)}
		}
	}
	if ps.Network != nil {
		linux.Network = toCRINetwork(ts, ps.Network)
	}
	for _, cs := range ps.Containers {
		if c, ok := ctrs[cs.ID]; ok {
			linux.Containers = append(linux.Containers, toCRIContainerStats(c, cs))
		}
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id: sb.ID, Metadata: sb.Config.GetMetadata(), Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations(),
		},
		Linux: linux,
	}
}

func toCRINetwork(ts int64, ifs []stats.Interface) *runtimeapi.NetworkUsage {
	out := &runtimeapi.NetworkUsage{Timestamp: ts}
	for _, i := range ifs {
		out.Interfaces = append(out.Interfaces, toCRIInterface(i))
	}
	if d := stats.Default(ifs); d != nil {
		out.DefaultInterface = toCRIInterface(*d)
	}
	return out
}

func toCRIInterface(i stats.Interface) *runtimeapi.NetworkInterfaceUsage {
	return &runtimeapi.NetworkInterfaceUsage{
		Name: i.Name, RxBytes: uint64Value(i.RxBytes), RxErrors: uint64Value(i.RxErrors),
		TxBytes: uint64Value(i.TxBytes), TxErrors: uint64Value(i.TxErrors),
	}
}
