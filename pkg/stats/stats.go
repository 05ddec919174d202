// Package stats measures pods and containers for the CRI stats and metrics
// RPCs: cgroup counters and settings (v1 and v2, with pressure where the
// kernel has it), CPU rates from successive samples, the cgroups' processes
// as /proc shows them (descriptors, sockets, threads, limits), network
// counters read inside the pod's network namespace, OOM kills, and writable
// layer usage with the filesystem it is on. Metrics (Descriptors,
// ContainerSamples, PodSamples) carry cAdvisor's names and labels.
//
// A Collector knows nothing of the sandbox and container services; its
// callers look objects up and pass references (PodRef, ContainerRef).
package stats

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// The interfaces below are what the collector consumes; fakes live in
// pkg/stats/statstest.

// Cgroups reads cgroup counters (cgroups.Manager).
type Cgroups interface {
	Stats(path string) (*cgroups.Stats, error)
	Exists(path string) bool
	// Procs lists the processes in the cgroup itself.
	Procs(path string) ([]int, error)
}

// Layers measures writable layers (*snapshot.Store); a container's layer
// is keyed by its ID.
type Layers interface {
	Usage(key string) (snapshot.Usage, error)
	// Root is the directory the layers live under, reported as the
	// filesystem's mount point as ImageFsInfo reports it.
	Root() string
}

// Network reads the interface counters of a network namespace.
type Network interface {
	// Interfaces returns the counters of every interface but loopback in
	// the namespace pinned at netnsPath.
	Interfaces(netnsPath string) ([]Interface, error)
}

// OOMCounter counts the OOM kills in a cgroup.
type OOMCounter interface {
	OOMKills(cgroupPath string) (uint64, error)
}

// Options are the collector's dependencies; only Cgroups is required.
type Options struct {
	Cgroups Cgroups
	// Layers, when set, measures writable layers.
	Layers Layers
	// Network, when set, reads pod network counters.
	Network Network
	// OOM, when set, counts OOM kills.
	OOM OOMCounter
	// ProcRoot is where processes are described; "" means
	// DefaultProcRoot. The processes are those the cgroups list, in the
	// daemon's PID namespace.
	ProcRoot string
	// SysRoot names block devices ("" means "/sys"); MountInfo names the
	// writable layers' filesystem ("" means /proc/self/mountinfo).
	SysRoot   string
	MountInfo string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MinRateInterval is the shortest interval a CPU rate is computed
	// over; samples closer together reuse the last rate. 0 means
	// DefaultMinRateInterval.
	MinRateInterval time.Duration
}

// DefaultMinRateInterval keeps the CPU rate steady when a kubelet reads pod
// and container stats a few milliseconds apart.
const DefaultMinRateInterval = time.Second

// forgetAfter drops the remembered state of objects not measured for this
// long (removed containers).
const forgetAfter = 10 * time.Minute

// PodRef is what the collector needs to know of a pod sandbox.
type PodRef struct {
	ID string
	// CgroupPath is the pod cgroup in the driver's form.
	CgroupPath string
	// NetNS is the pinned network namespace; empty for host network.
	NetNS string
}

// ContainerRef is what the collector needs to know of a container.
type ContainerRef struct {
	ID string
	// Bundle is the container's OCI bundle, whose config.json names its
	// cgroup when CgroupPath is empty.
	Bundle     string
	CgroupPath string
	// Pid is the container's init process, whose limits are reported; 0
	// means the first process its cgroup lists.
	Pid int
}

// Interface holds the counters of one network interface.
type Interface struct {
	Name                                 string
	RxBytes, RxErrors, TxBytes, TxErrors uint64
	RxPackets, RxDropped                 uint64
	TxPackets, TxDropped                 uint64
}

// CgroupStats are the measurements of one cgroup.
type CgroupStats struct {
	*cgroups.Stats
	// NanoCores is the CPU rate since an earlier sample, nil until there
	// is one.
	NanoCores *uint64
	// IODevices names the devices of Stats.IO, index for index
	// (BlockDevice).
	IODevices []string
	// Procs describes the cgroup's processes; nil when they cannot be
	// listed.
	Procs *ProcStats
}

// ContainerStats are the measurements of one container. Nil parts were
// not available (no cgroup before start or after exit).
type ContainerStats struct {
	ID        string
	Timestamp time.Time
	Cgroup    *CgroupStats
	OOMKills  uint64
	// WritableLayer is the container's writable layer usage; LayerRoot
	// is the filesystem it lives on.
	WritableLayer *snapshot.Usage
	LayerRoot     string
	// LayerFS is the filesystem LayerRoot is on.
	LayerFS *Filesystem
}

// PodStats are the measurements of a pod sandbox and its containers.
type PodStats struct {
	ID        string
	Timestamp time.Time
	Cgroup    *CgroupStats
	// Network is nil for host-network pods.
	Network    []Interface
	Containers []*ContainerStats
}

// Collector measures pods and containers. It remembers each object's last
// CPU sample and cgroup path.
type Collector struct {
	opts Options

	mu        sync.Mutex
	known     map[string]*memory
	lastSweep time.Time
	// devices maps major:minor to mount source (layerFilesystem).
	devices map[string]string
}

// memory is what the collector remembers of one pod or container.
type memory struct {
	cgroupPath string
	cpu        cpuSample
	seen       time.Time
}

// New returns a collector.
func New(opts Options) (*Collector, error) {
	if opts.Cgroups == nil {
		return nil, fmt.Errorf("stats collector: cgroups are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinRateInterval <= 0 {
		opts.MinRateInterval = DefaultMinRateInterval
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = DefaultProcRoot
	}
	if opts.SysRoot == "" {
		opts.SysRoot = "/sys"
	}
	if opts.MountInfo == "" {
		opts.MountInfo = "/proc/self/mountinfo"
	}
	return &Collector{opts: opts, known: map[string]*memory{}, devices: map[string]string{}}, nil
}

// Container measures one container. Parts that cannot be read are left nil
// and logged; only a container that cannot be identified is an error.
func (c *Collector) Container(ctx context.Context, ref ContainerRef) (*ContainerStats, error) {
	now := c.opts.Now()
	path, err := c.containerCgroup(ref)
	if err != nil {
		return nil, err
	}
	out := &ContainerStats{ID: ref.ID, Timestamp: now}
	out.Cgroup = c.cgroup(ctx, "container/"+ref.ID, path, ref.Pid, now)
	if out.Cgroup != nil && c.opts.OOM != nil {
		if out.OOMKills, err = c.opts.OOM.OOMKills(path); err != nil {
			klog.FromContext(ctx).V(4).Info("cannot count OOM kills", "containerID", ref.ID, "err", err)
		}
	}
	if c.opts.Layers != nil {
		if u, err := c.opts.Layers.Usage(ref.ID); err == nil {
			out.WritableLayer, out.LayerRoot = &u, c.opts.Layers.Root()
			if out.LayerFS, err = c.layerFilesystem(out.LayerRoot); err != nil {
				klog.FromContext(ctx).V(4).Info("cannot describe the writable layers' filesystem", "root", out.LayerRoot, "err", err)
			}
		} else {
			klog.FromContext(ctx).V(4).Info("cannot measure writable layer", "containerID", ref.ID, "err", err)
		}
	}
	return out, nil
}

// Pod measures a pod sandbox and the given containers of it.
func (c *Collector) Pod(ctx context.Context, ref PodRef, containers []ContainerRef) (*PodStats, error) {
	now := c.opts.Now()
	out := &PodStats{ID: ref.ID, Timestamp: now}
	if ref.CgroupPath != "" {
		out.Cgroup = c.cgroup(ctx, "pod/"+ref.ID, ref.CgroupPath, 0, now)
	}
	if ref.NetNS != "" && c.opts.Network != nil {
		ifs, err := c.opts.Network.Interfaces(ref.NetNS)
		if err != nil {
			klog.FromContext(ctx).V(4).Info("cannot read pod network counters", "podSandboxID", ref.ID, "err", err)
		} else {
			out.Network = ifs
		}
	}
	for _, cref := range containers {
		cs, err := c.Container(ctx, cref)
		if err != nil {
			klog.FromContext(ctx).V(4).Info("skipping container in pod stats", "podSandboxID", ref.ID, "containerID", cref.ID, "err", err)
			continue
		}
		out.Containers = append(out.Containers, cs)
	}
	return out, nil
}

// cgroup reads the cgroup at path and its processes (rootPid's limits),
// nil when it does not exist (any more).
func (c *Collector) cgroup(ctx context.Context, key, path string, rootPid int, now time.Time) *CgroupStats {
	if !c.opts.Cgroups.Exists(path) {
		return nil
	}
	st, err := c.opts.Cgroups.Stats(path)
	if err != nil {
		// A process that exits while it is read takes its cgroup
		// along; only an error on a cgroup that is still there counts.
		if c.opts.Cgroups.Exists(path) {
			klog.FromContext(ctx).Error(err, "cannot read cgroup stats", "cgroup", path)
		}
		return nil
	}
	out := &CgroupStats{Stats: st, NanoCores: c.rate(key, st.CPU.UsageNanos, now)}
	for _, d := range st.IO {
		out.IODevices = append(out.IODevices, BlockDevice(c.opts.SysRoot, d.Major, d.Minor))
	}
	out.Procs = c.procs(ctx, path, rootPid)
	return out
}

// procs describes the processes of the cgroup at path, nil when they
// cannot be listed.
func (c *Collector) procs(ctx context.Context, path string, rootPid int) *ProcStats {
	pids, err := c.opts.Cgroups.Procs(path)
	if err != nil {
		klog.FromContext(ctx).V(4).Info("cannot list cgroup processes", "cgroup", path, "err", err)
		return nil
	}
	ps, err := ReadProcs(c.opts.ProcRoot, pids, rootPid)
	if err != nil {
		klog.FromContext(ctx).V(4).Info("cannot describe cgroup processes", "cgroup", path, "err", err)
		return nil
	}
	return ps
}

// rememberLocked returns the memory of key, created on first use, and now
// and then forgets objects not measured lately (removed containers);
// c.mu is held.
func (c *Collector) rememberLocked(key string, now time.Time) *memory {
	if now.Sub(c.lastSweep) > forgetAfter/10 {
		c.lastSweep = now
		for k, m := range c.known {
			if now.Sub(m.seen) > forgetAfter {
				delete(c.known, k)
			}
		}
	}
	m, ok := c.known[key]
	if !ok {
		m = &memory{}
		c.known[key] = m
	}
	m.seen = now
	return m
}
