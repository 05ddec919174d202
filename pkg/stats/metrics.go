package stats

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/cricket-cri/cricket/pkg/cgroups"
)

// MetricType says how a metric's value behaves.
type MetricType int

// The metric types.
const (
	Counter MetricType = iota + 1
	Gauge
)

// Descriptor describes one metric: its name, help and label keys.
type Descriptor struct {
	Name   string
	Help   string
	Type   MetricType
	Labels []string
}

// Sample is one value of a metric; LabelValues follow its descriptor's
// Labels.
type Sample struct {
	Name        string
	Type        MetricType
	LabelValues []string
	Value       uint64
	Timestamp   time.Time
}

// Labels identify the object a sample measures, with cAdvisor's label
// names. For pod-level samples Container is empty, as cAdvisor reports a
// pod's own cgroup.
type Labels struct {
	// Container is the container's name in its pod.
	Container string
	// ID is the container or pod sandbox ID.
	ID string
	// Image is the container's image.
	Image string
	// Name is the container's or pod sandbox's registered name.
	Name      string
	Namespace string
	Pod       string
}

var (
	baseLabels      = []string{"container", "id", "image", "name", "namespace", "pod"}
	interfaceLabels = withLabels("interface")
	deviceLabels    = withLabels("device")
	blkioLabels     = withLabels("device", "major", "minor", "operation")
	failureLabels   = withLabels("failure_type", "scope")
	hugetlbLabels   = withLabels("pagesize")
	ulimitLabels    = withLabels("ulimit")
)

func withLabels(keys ...string) []string {
	return append(append([]string(nil), baseLabels...), keys...)
}

func (l Labels) values() []string {
	return []string{l.Container, l.ID, l.Image, l.Name, l.Namespace, l.Pod}
}

// The metric names, cAdvisor's, which the kubelet's /metrics/cadvisor
// serves. CRI metric values are unsigned integers: *_seconds_total
// counters are whole seconds.
const (
	MetricCPUUsage           = "container_cpu_usage_seconds_total"
	MetricCPUUser            = "container_cpu_user_seconds_total"
	MetricCPUSystem          = "container_cpu_system_seconds_total"
	MetricCFSPeriods         = "container_cpu_cfs_periods_total"
	MetricCFSThrottled       = "container_cpu_cfs_throttled_periods_total"
	MetricCFSThrottledTime   = "container_cpu_cfs_throttled_seconds_total"
	MetricSpecCPUPeriod      = "container_spec_cpu_period"
	MetricSpecCPUQuota       = "container_spec_cpu_quota"
	MetricSpecCPUShares      = "container_spec_cpu_shares"
	MetricMemoryUsage        = "container_memory_usage_bytes"
	MetricMemoryMaxUsage     = "container_memory_max_usage_bytes"
	MetricMemoryWorkingSet   = "container_memory_working_set_bytes"
	MetricMemoryRSS          = "container_memory_rss"
	MetricMemoryCache        = "container_memory_cache"
	MetricMemoryMappedFile   = "container_memory_mapped_file"
	MetricMemorySwap         = "container_memory_swap"
	MetricMemoryKernel       = "container_memory_kernel_usage"
	MetricMemoryFailcnt      = "container_memory_failcnt"
	MetricMemoryFailures     = "container_memory_failures_total"
	MetricMemoryLimit        = "container_spec_memory_limit_bytes"
	MetricMemoryReservation  = "container_spec_memory_reservation_limit_bytes"
	MetricMemorySwapLimit    = "container_spec_memory_swap_limit_bytes"
	MetricHugetlbUsage       = "container_hugetlb_usage_bytes"
	MetricHugetlbMaxUsage    = "container_hugetlb_max_usage_bytes"
	MetricProcesses          = "container_processes"
	MetricThreads            = "container_threads"
	MetricThreadsMax         = "container_threads_max"
	MetricFileDescriptors    = "container_file_descriptors"
	MetricSockets            = "container_sockets"
	MetricUlimitsSoft        = "container_ulimits_soft"
	MetricOOMEvents          = "container_oom_events_total"
	MetricStartTime          = "container_start_time_seconds"
	MetricLastSeen           = "container_last_seen"
	MetricFSUsage            = "container_fs_usage_bytes"
	MetricFSInodes           = "container_fs_inodes_used"
	MetricFSLimit            = "container_fs_limit_bytes"
	MetricFSInodesTotal      = "container_fs_inodes_total"
	MetricFSInodesFree       = "container_fs_inodes_free"
	MetricFSReadBytes        = "container_fs_reads_bytes_total"
	MetricFSReads            = "container_fs_reads_total"
	MetricFSWriteBytes       = "container_fs_writes_bytes_total"
	MetricFSWrites           = "container_fs_writes_total"
	MetricBlkioDeviceUsage   = "container_blkio_device_usage_total"
	MetricNetRxBytes         = "container_network_receive_bytes_total"
	MetricNetRxPackets       = "container_network_receive_packets_total"
	MetricNetRxDropped       = "container_network_receive_packets_dropped_total"
	MetricNetRxErrors        = "container_network_receive_errors_total"
	MetricNetTxBytes         = "container_network_transmit_bytes_total"
	MetricNetTxPackets       = "container_network_transmit_packets_total"
	MetricNetTxDropped       = "container_network_transmit_packets_dropped_total"
	MetricNetTxErrors        = "container_network_transmit_errors_total"
	MetricPressureCPUWaiting = "container_pressure_cpu_waiting_seconds_total"
	MetricPressureCPUStalled = "container_pressure_cpu_stalled_seconds_total"
	MetricPressureMemWaiting = "container_pressure_memory_waiting_seconds_total"
	MetricPressureMemStalled = "container_pressure_memory_stalled_seconds_total"
	MetricPressureIOWaiting  = "container_pressure_io_waiting_seconds_total"
	MetricPressureIOStalled  = "container_pressure_io_stalled_seconds_total"
)

var descriptors = []Descriptor{
	{MetricCPUUsage, "Cumulative cpu time consumed in seconds.", Counter, baseLabels},
	{MetricCPUUser, "Cumulative user cpu time consumed in seconds.", Counter, baseLabels},
	{MetricCPUSystem, "Cumulative system cpu time consumed in seconds.", Counter, baseLabels},
	{MetricCFSPeriods, "Number of elapsed enforcement period intervals.", Counter, baseLabels},
	{MetricCFSThrottled, "Number of throttled period intervals.", Counter, baseLabels},
	{MetricCFSThrottledTime, "Total time duration the container has been throttled, in seconds.", Counter, baseLabels},
	{MetricSpecCPUPeriod, "CPU period of the container, in microseconds.", Gauge, baseLabels},
	{MetricSpecCPUQuota, "CPU quota of the container, in microseconds per period; reported only when set.", Gauge, baseLabels},
	{MetricSpecCPUShares, "CPU share of the container.", Gauge, baseLabels},
	{MetricMemoryUsage, "Current memory usage in bytes, including all memory regardless of when it was accessed.", Gauge, baseLabels},
	{MetricMemoryMaxUsage, "Maximum memory usage recorded in bytes.", Gauge, baseLabels},
	{MetricMemoryWorkingSet, "Current working set in bytes.", Gauge, baseLabels},
	{MetricMemoryRSS, "Size of RSS in bytes.", Gauge, baseLabels},
	{MetricMemoryCache, "Number of bytes of page cache memory.", Gauge, baseLabels},
	{MetricMemoryMappedFile, "Size of memory mapped files in bytes.", Gauge, baseLabels},
	{MetricMemorySwap, "Container swap usage in bytes.", Gauge, baseLabels},
	{MetricMemoryKernel, "Size of kernel memory allocated in bytes.", Gauge, baseLabels},
	{MetricMemoryFailcnt, "Number of memory usage hits limits.", Counter, baseLabels},
	{MetricMemoryFailures, "Cumulative count of memory allocation failures.", Counter, failureLabels},
	{MetricMemoryLimit, "Memory limit for the container in bytes, 0 for none.", Gauge, baseLabels},
	{MetricMemoryReservation, "Memory reservation (soft limit) for the container in bytes, 0 for none.", Gauge, baseLabels},
	{MetricMemorySwapLimit, "Memory swap limit for the container in bytes, 0 for none.", Gauge, baseLabels},
	{MetricHugetlbUsage, "Current hugepage usage in bytes.", Gauge, hugetlbLabels},
	{MetricHugetlbMaxUsage, "Maximum hugepage usage recorded in bytes.", Gauge, hugetlbLabels},
	{MetricProcesses, "Number of processes running inside the container.", Gauge, baseLabels},
	{MetricThreads, "Number of threads running inside the container.", Gauge, baseLabels},
	{MetricThreadsMax, "Maximum number of threads allowed inside the container, 0 for no limit.", Gauge, baseLabels},
	{MetricFileDescriptors, "Number of open file descriptors for the container.", Gauge, baseLabels},
	{MetricSockets, "Number of open sockets for the container.", Gauge, baseLabels},
	{MetricUlimitsSoft, "Soft ulimit values for the container root process; unlimited ones are not reported.", Gauge, ulimitLabels},
	{MetricOOMEvents, "Count of out of memory kills in the container.", Counter, baseLabels},
	{MetricStartTime, "Start time of the container since unix epoch in seconds.", Gauge, baseLabels},
	{MetricLastSeen, "Last time a container was seen by the exporter, since unix epoch in seconds.", Gauge, baseLabels},
	{MetricFSUsage, "Number of bytes consumed by the container's writable layer.", Gauge, deviceLabels},
	{MetricFSInodes, "Number of inodes used by the container's writable layer.", Gauge, deviceLabels},
	{MetricFSLimit, "Number of bytes that can be consumed by the container on this filesystem.", Gauge, deviceLabels},
	{MetricFSInodesTotal, "Number of inodes of the filesystem.", Gauge, deviceLabels},
	{MetricFSInodesFree, "Number of available inodes of the filesystem.", Gauge, deviceLabels},
	{MetricFSReadBytes, "Cumulative count of bytes read.", Counter, deviceLabels},
	{MetricFSReads, "Cumulative count of reads completed.", Counter, deviceLabels},
	{MetricFSWriteBytes, "Cumulative count of bytes written.", Counter, deviceLabels},
	{MetricFSWrites, "Cumulative count of writes completed.", Counter, deviceLabels},
	{MetricBlkioDeviceUsage, "Blkio device bytes usage.", Counter, blkioLabels},
	{MetricNetRxBytes, "Cumulative count of bytes received.", Counter, interfaceLabels},
	{MetricNetRxPackets, "Cumulative count of packets received.", Counter, interfaceLabels},
	{MetricNetRxDropped, "Cumulative count of packets dropped while receiving.", Counter, interfaceLabels},
	{MetricNetRxErrors, "Cumulative count of errors encountered while receiving.", Counter, interfaceLabels},
	{MetricNetTxBytes, "Cumulative count of bytes transmitted.", Counter, interfaceLabels},
	{MetricNetTxPackets, "Cumulative count of packets transmitted.", Counter, interfaceLabels},
	{MetricNetTxDropped, "Cumulative count of packets dropped while transmitting.", Counter, interfaceLabels},
	{MetricNetTxErrors, "Cumulative count of errors encountered while transmitting.", Counter, interfaceLabels},
	{MetricPressureCPUWaiting, "Total time duration tasks in the container have waited due to CPU congestion.", Counter, baseLabels},
	{MetricPressureCPUStalled, "Total time duration no tasks in the container could make progress due to CPU congestion.", Counter, baseLabels},
	{MetricPressureMemWaiting, "Total time duration tasks in the container have waited due to memory congestion.", Counter, baseLabels},
	{MetricPressureMemStalled, "Total time duration no tasks in the container could make progress due to memory congestion.", Counter, baseLabels},
	{MetricPressureIOWaiting, "Total time duration tasks in the container have waited due to IO congestion.", Counter, baseLabels},
	{MetricPressureIOStalled, "Total time duration no tasks in the container could make progress due to IO congestion.", Counter, baseLabels},
}

// Descriptors returns the descriptors of every metric the collector
// reports, in a fixed order. Some are reported only where the host has
// what they measure: pressure (PSI), huge pages, block I/O, swap.
func Descriptors() []Descriptor {
	out := make([]Descriptor, len(descriptors))
	copy(out, descriptors)
	return out
}

// ContainerSamples returns the metrics of a container that started at
// started (zero: not started, no start time reported).
func ContainerSamples(cs *ContainerStats, l Labels, started time.Time) []Sample {
	b := sampler{at: cs.Timestamp, labels: l.values()}
	b.common(cs.Cgroup, started)
	if cs.Cgroup != nil {
		b.add(MetricOOMEvents, Counter, cs.OOMKills)
	}
	b.filesystem(cs)
	return b.out
}

// PodSamples returns the metrics of a pod sandbox's own cgroup and
// network, the sandbox created at started; its containers' are
// ContainerSamples.
func PodSamples(ps *PodStats, l Labels, started time.Time) []Sample {
	b := sampler{at: ps.Timestamp, labels: l.values()}
	b.common(ps.Cgroup, started)
	for _, i := range ps.Network {
		lv := b.with(i.Name)
		b.addLabeled(MetricNetRxBytes, Counter, i.RxBytes, lv)
		b.addLabeled(MetricNetRxPackets, Counter, i.RxPackets, lv)
		b.addLabeled(MetricNetRxDropped, Counter, i.RxDropped, lv)
		b.addLabeled(MetricNetRxErrors, Counter, i.RxErrors, lv)
		b.addLabeled(MetricNetTxBytes, Counter, i.TxBytes, lv)
		b.addLabeled(MetricNetTxPackets, Counter, i.TxPackets, lv)
		b.addLabeled(MetricNetTxDropped, Counter, i.TxDropped, lv)
		b.addLabeled(MetricNetTxErrors, Counter, i.TxErrors, lv)
	}
	return b.out
}

type sampler struct {
	at     time.Time
	labels []string
	out    []Sample
}

func (b *sampler) add(name string, t MetricType, v uint64) {
	b.addLabeled(name, t, v, b.labels)
}

func (b *sampler) addLabeled(name string, t MetricType, v uint64, lv []string) {
	b.out = append(b.out, Sample{Name: name, Type: t, LabelValues: lv, Value: v, Timestamp: b.at})
}

// with returns the base label values followed by more.
func (b *sampler) with(more ...string) []string {
	return append(append([]string(nil), b.labels...), more...)
}

// common adds what pods and containers share: times and cgroup metrics.
func (b *sampler) common(cg *CgroupStats, started time.Time) {
	b.add(MetricLastSeen, Gauge, uint64(b.at.Unix()))
	if !started.IsZero() {
		b.add(MetricStartTime, Gauge, uint64(started.Unix()))
	}
	if cg == nil {
		return
	}
	b.cpu(cg.CPU)
	b.memory(cg.Memory)
	b.add(MetricThreadsMax, Gauge, cg.Pids.Limit)
	b.processes(cg.Procs)
	b.blockIO(cg)
	for _, size := range slices.Sorted(maps.Keys(cg.Hugetlb)) {
		h := cg.Hugetlb[size]
		b.addLabeled(MetricHugetlbUsage, Gauge, h.Usage, b.with(size))
		b.addLabeled(MetricHugetlbMaxUsage, Gauge, h.MaxUsage, b.with(size))
	}
	b.pressure(cg.PSI)
}

const sec = uint64(time.Second)

func (b *sampler) cpu(cpu cgroups.CPUStats) {
	b.add(MetricCPUUsage, Counter, cpu.UsageNanos/sec)
	b.add(MetricCPUUser, Counter, cpu.UserNanos/sec)
	b.add(MetricCPUSystem, Counter, cpu.SystemNanos/sec)
	b.add(MetricCFSPeriods, Counter, cpu.Periods)
	b.add(MetricCFSThrottled, Counter, cpu.ThrottledPeriods)
	b.add(MetricCFSThrottledTime, Counter, cpu.ThrottledNanos/sec)
	b.add(MetricSpecCPUShares, Gauge, cpu.Shares)
	b.add(MetricSpecCPUPeriod, Gauge, cpu.Period)
	if cpu.Quota != 0 {
		b.add(MetricSpecCPUQuota, Gauge, cpu.Quota)
	}
}

func (b *sampler) memory(mem cgroups.MemoryStats) {
	b.add(MetricMemoryUsage, Gauge, mem.Usage)
	b.add(MetricMemoryMaxUsage, Gauge, mem.MaxUsage)
	b.add(MetricMemoryWorkingSet, Gauge, mem.WorkingSet)
	b.add(MetricMemoryRSS, Gauge, mem.RSS)
	b.add(MetricMemoryCache, Gauge, mem.Cache)
	b.add(MetricMemoryMappedFile, Gauge, mem.MappedFile)
	b.add(MetricMemorySwap, Gauge, mem.Swap)
	b.add(MetricMemoryKernel, Gauge, mem.KernelUsage)
	b.add(MetricMemoryFailcnt, Counter, mem.Failcnt)
	for _, f := range []struct {
		typ, scope string
		v          uint64
	}{
		{"pgfault", "container", mem.OwnPageFaults}, {"pgfault", "hierarchy", mem.PageFaults},
		{"pgmajfault", "container", mem.OwnMajorPageFaults}, {"pgmajfault", "hierarchy", mem.MajorPageFaults},
	} {
		b.addLabeled(MetricMemoryFailures, Counter, f.v, b.with(f.typ, f.scope))
	}
	b.add(MetricMemoryLimit, Gauge, mem.Limit)
	b.add(MetricMemoryReservation, Gauge, mem.Reservation)
	b.add(MetricMemorySwapLimit, Gauge, mem.SwapLimit)
}

func (b *sampler) processes(p *ProcStats) {
	if p == nil {
		return
	}
	b.add(MetricProcesses, Gauge, p.Processes)
	b.add(MetricThreads, Gauge, p.Threads)
	b.add(MetricFileDescriptors, Gauge, p.FDs)
	b.add(MetricSockets, Gauge, p.Sockets)
	for _, u := range p.Ulimits {
		b.addLabeled(MetricUlimitsSoft, Gauge, u.Soft, b.with(u.Name))
	}
}

func (b *sampler) blockIO(cg *CgroupStats) {
	for i, d := range cg.IO {
		name := fmt.Sprintf("%d:%d", d.Major, d.Minor)
		if i < len(cg.IODevices) {
			name = cg.IODevices[i]
		}
		lv := b.with(name)
		b.addLabeled(MetricFSReadBytes, Counter, d.ReadBytes, lv)
		b.addLabeled(MetricFSReads, Counter, d.Reads, lv)
		b.addLabeled(MetricFSWriteBytes, Counter, d.WriteBytes, lv)
		b.addLabeled(MetricFSWrites, Counter, d.Writes, lv)
		major, minor := strconv.FormatUint(d.Major, 10), strconv.FormatUint(d.Minor, 10)
		b.addLabeled(MetricBlkioDeviceUsage, Counter, d.ReadBytes, b.with(name, major, minor, "Read"))
		b.addLabeled(MetricBlkioDeviceUsage, Counter, d.WriteBytes, b.with(name, major, minor, "Write"))
	}
}

// pressure reports PSI totals (microseconds): "some" is time tasks
// waited, "full" time no task could run.
func (b *sampler) pressure(psi *cgroups.PSIStats) {
	if psi == nil {
		return
	}
	const usec = uint64(time.Second / time.Microsecond)
	b.add(MetricPressureCPUWaiting, Counter, psi.CPU.Some.Total/usec)
	b.add(MetricPressureCPUStalled, Counter, psi.CPU.Full.Total/usec)
	b.add(MetricPressureMemWaiting, Counter, psi.Memory.Some.Total/usec)
	b.add(MetricPressureMemStalled, Counter, psi.Memory.Full.Total/usec)
	b.add(MetricPressureIOWaiting, Counter, psi.IO.Some.Total/usec)
	b.add(MetricPressureIOStalled, Counter, psi.IO.Full.Total/usec)
}

func (b *sampler) filesystem(cs *ContainerStats) {
	u := cs.WritableLayer
	if u == nil {
		return
	}
	device := cs.LayerRoot
	if cs.LayerFS != nil {
		device = cs.LayerFS.Device
	}
	lv := b.with(device)
	b.addLabeled(MetricFSUsage, Gauge, u.Bytes, lv)
	b.addLabeled(MetricFSInodes, Gauge, u.Inodes, lv)
	if fs := cs.LayerFS; fs != nil {
		b.addLabeled(MetricFSLimit, Gauge, fs.Capacity, lv)
		b.addLabeled(MetricFSInodesTotal, Gauge, fs.Inodes, lv)
		b.addLabeled(MetricFSInodesFree, Gauge, fs.InodesFree, lv)
	}
}
