package stats_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/pkg/stats"
)

// fullCgroup has every measurement a cgroup can have.
func fullCgroup() *stats.CgroupStats {
	return &stats.CgroupStats{
		Stats: &cgroups.Stats{
			CPU: cgroups.CPUStats{UsageNanos: 3_900_000_000, Shares: 1024, Quota: 20000, Period: 100000},
			Memory: cgroups.MemoryStats{
				Usage: 100, WorkingSet: 80, RSS: 60, MappedFile: 7, Swap: 5, KernelUsage: 9, MaxUsage: 120, Failcnt: 2,
				PageFaults: 11, OwnPageFaults: 10, MajorPageFaults: 3, OwnMajorPageFaults: 1,
				Limit: 64 << 20, Reservation: 32 << 20, SwapLimit: 64 << 20,
			},
			Pids:    cgroups.PidsStats{Current: 4, Limit: 1024},
			IO:      []cgroups.IODevice{{Major: 253, Minor: 0, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2}},
			Hugetlb: map[string]cgroups.HugetlbStats{"2MB": {Usage: 2 << 20, MaxUsage: 4 << 20}},
			PSI: &cgroups.PSIStats{
				CPU:    cgroups.PSI{Some: cgroups.PSIData{Total: 3_500_000}, Full: cgroups.PSIData{Total: 1_000_000}},
				Memory: cgroups.PSI{Some: cgroups.PSIData{Total: 2_000_000}},
				IO:     cgroups.PSI{Full: cgroups.PSIData{Total: 5_000_000}},
			},
		},
		IODevices: []string{"/dev/vda"},
		Procs: &stats.ProcStats{Processes: 2, Threads: 5, FDs: 9, Sockets: 1,
			Ulimits: []stats.Ulimit{{Name: "max_open_files", Soft: 1024}}},
	}
}

// sampleKey names a sample by metric and its labels beyond the base six.
func sampleKey(s stats.Sample) string {
	return strings.Join(append([]string{s.Name}, s.LabelValues[6:]...), "/")
}

func TestSamplesFollowTheirDescriptors(t *testing.T) {
	at := time.Unix(100, 0)
	started := time.Unix(40, 0)
	labels := stats.Labels{Container: "app", ID: "c1", Image: "busybox", Name: "app_pod_ns_uid_0", Namespace: "ns", Pod: "pod"}
	layer := &snapshot.Usage{Bytes: 4096, Inodes: 3}
	layerFS := &stats.Filesystem{Device: "/dev/vda1", Capacity: 1 << 30, Inodes: 1000, InodesFree: 400}
	tests := []struct {
		desc    string
		samples []stats.Sample
		want    map[string]uint64
		absent  []string
	}{
		{
			desc: "running container",
			samples: stats.ContainerSamples(&stats.ContainerStats{
				Timestamp: at, Cgroup: fullCgroup(), OOMKills: 1, WritableLayer: layer, LayerRoot: "/var/lib/cricket", LayerFS: layerFS,
			}, labels, started),
			want: map[string]uint64{
				stats.MetricCPUUsage: 3, stats.MetricSpecCPUShares: 1024, stats.MetricSpecCPUQuota: 20000, stats.MetricSpecCPUPeriod: 100000,
				stats.MetricMemoryWorkingSet: 80, stats.MetricMemoryUsage: 100, stats.MetricMemoryRSS: 60, stats.MetricMemoryMappedFile: 7,
				stats.MetricMemorySwap: 5, stats.MetricMemoryKernel: 9, stats.MetricMemoryMaxUsage: 120, stats.MetricMemoryFailcnt: 2,
				stats.MetricMemoryFailures + "/pgfault/container": 10, stats.MetricMemoryFailures + "/pgfault/hierarchy": 11,
				stats.MetricMemoryFailures + "/pgmajfault/container": 1, stats.MetricMemoryFailures + "/pgmajfault/hierarchy": 3,
				stats.MetricMemoryLimit: 64 << 20, stats.MetricMemoryReservation: 32 << 20, stats.MetricMemorySwapLimit: 64 << 20,
				stats.MetricProcesses: 2, stats.MetricThreads: 5, stats.MetricThreadsMax: 1024, stats.MetricFileDescriptors: 9,
				stats.MetricSockets: 1, stats.MetricUlimitsSoft + "/max_open_files": 1024, stats.MetricOOMEvents: 1,
				stats.MetricStartTime: 40, stats.MetricLastSeen: 100,
				stats.MetricFSUsage + "//dev/vda1": 4096, stats.MetricFSInodes + "//dev/vda1": 3, stats.MetricFSLimit + "//dev/vda1": 1 << 30,
				stats.MetricFSInodesTotal + "//dev/vda1": 1000, stats.MetricFSInodesFree + "//dev/vda1": 400,
				stats.MetricFSReadBytes + "//dev/vda": 4096, stats.MetricFSReads + "//dev/vda": 1,
				stats.MetricFSWriteBytes + "//dev/vda": 8192, stats.MetricFSWrites + "//dev/vda": 2,
				stats.MetricBlkioDeviceUsage + "//dev/vda/253/0/Read": 4096, stats.MetricBlkioDeviceUsage + "//dev/vda/253/0/Write": 8192,
				stats.MetricHugetlbUsage + "/2MB": 2 << 20, stats.MetricHugetlbMaxUsage + "/2MB": 4 << 20,
				stats.MetricPressureCPUWaiting: 3, stats.MetricPressureCPUStalled: 1, stats.MetricPressureMemWaiting: 2,
				stats.MetricPressureMemStalled: 0, stats.MetricPressureIOWaiting: 0, stats.MetricPressureIOStalled: 5,
			},
			absent: []string{stats.MetricNetRxBytes + "/eth0"},
		},
		{
			desc:    "created container: writable layer and last seen only",
			samples: stats.ContainerSamples(&stats.ContainerStats{Timestamp: at, WritableLayer: layer, LayerRoot: "/var/lib/cricket"}, labels, time.Time{}),
			want:    map[string]uint64{stats.MetricFSUsage + "//var/lib/cricket": 4096, stats.MetricLastSeen: 100},
			absent:  []string{stats.MetricCPUUsage, stats.MetricOOMEvents, stats.MetricStartTime, stats.MetricFSLimit + "//var/lib/cricket"},
		},
		{
			desc: "no quota, pressure, processes or block I/O",
			samples: stats.ContainerSamples(&stats.ContainerStats{Timestamp: at, Cgroup: &stats.CgroupStats{Stats: &cgroups.Stats{
				CPU: cgroups.CPUStats{Shares: 2, Period: 100000},
			}}}, labels, started),
			want: map[string]uint64{stats.MetricSpecCPUShares: 2, stats.MetricThreadsMax: 0},
			absent: []string{
				stats.MetricSpecCPUQuota, stats.MetricPressureCPUWaiting, stats.MetricProcesses, stats.MetricFileDescriptors,
				stats.MetricFSReadBytes + "//dev/vda",
			},
		},
		{
			desc: "pod with network",
			samples: stats.PodSamples(&stats.PodStats{Timestamp: at, Cgroup: fullCgroup(), Network: []stats.Interface{{
				Name: "eth0", RxBytes: 10, RxPackets: 2, RxDropped: 1, RxErrors: 3, TxBytes: 20, TxPackets: 4, TxDropped: 5, TxErrors: 6,
			}}}, labels, started),
			want: map[string]uint64{
				stats.MetricCPUUsage: 3, stats.MetricStartTime: 40,
				stats.MetricNetRxBytes + "/eth0": 10, stats.MetricNetRxPackets + "/eth0": 2, stats.MetricNetRxDropped + "/eth0": 1,
				stats.MetricNetRxErrors + "/eth0": 3, stats.MetricNetTxBytes + "/eth0": 20, stats.MetricNetTxPackets + "/eth0": 4,
				stats.MetricNetTxDropped + "/eth0": 5, stats.MetricNetTxErrors + "/eth0": 6,
			},
			absent: []string{stats.MetricFSUsage + "//dev/vda1", stats.MetricOOMEvents},
		},
	}
	descs := map[string]stats.Descriptor{}
	for _, d := range stats.Descriptors() {
		if _, dup := descs[d.Name]; dup {
			t.Fatalf("descriptor %s twice", d.Name)
		}
		if d.Help == "" || len(d.Labels) == 0 {
			t.Fatalf("descriptor %+v lacks help or labels", d)
		}
		descs[d.Name] = d
	}
	reported := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := map[string]uint64{}
			for _, s := range tc.samples {
				d, ok := descs[s.Name]
				if !ok {
					t.Fatalf("sample %s has no descriptor", s.Name)
				}
				if len(s.LabelValues) != len(d.Labels) || s.Type != d.Type || !s.Timestamp.Equal(at) {
					t.Fatalf("sample %+v does not fit descriptor %+v", s, d)
				}
				k := sampleKey(s)
				if _, dup := got[k]; dup {
					t.Fatalf("sample %s twice", k)
				}
				got[k] = s.Value
				reported[s.Name] = true
			}
			for name, v := range tc.want {
				if g, ok := got[name]; !ok || g != v {
					t.Errorf("%s = %d (reported %t), want %d", name, g, ok, v)
				}
			}
			for _, name := range tc.absent {
				if _, ok := got[name]; ok {
					t.Errorf("%s reported", name)
				}
			}
		})
	}
	for name := range descs {
		if !reported[name] {
			t.Errorf("no sample of %s", name)
		}
	}
}
