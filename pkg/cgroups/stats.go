package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats are the usage counters and limits of a cgroup. Zero means not
// available (or, for limits, no limit).
type Stats struct {
	CPU    CPUStats
	Memory MemoryStats
	Pids   PidsStats
	// IO has one entry per block device the cgroup did I/O on.
	IO []IODevice
	// Hugetlb is keyed by page size as the kernel names it ("2MB").
	Hugetlb map[string]HugetlbStats
	// PSI is pressure stall information: from the cgroup's own directory
	// on v2, from its directory in a hybrid host's cgroup2 hierarchy on
	// v1 (the kernel tracks pressure there whatever the controllers);
	// nil where the kernel has none.
	PSI *PSIStats
}

// CPUStats are cumulative CPU times in nanoseconds, CFS throttling and
// the CPU settings.
type CPUStats struct {
	UsageNanos       uint64
	UserNanos        uint64
	SystemNanos      uint64
	Periods          uint64
	ThrottledPeriods uint64
	ThrottledNanos   uint64
	// Shares is the CPU weight in v1 shares; on v2 it is converted back
	// from cpu.weight (CPUWeightToShares).
	Shares uint64
	// Quota and Period are the CFS bandwidth in microseconds; Quota 0
	// means none.
	Quota  uint64
	Period uint64
}

// MemoryStats are in bytes, except the counts. WorkingSet is usage minus
// inactive file pages, as the kubelet computes it. Limits of 0 mean no
// limit.
type MemoryStats struct {
	Usage      uint64
	WorkingSet uint64
	RSS        uint64
	Cache      uint64
	// PageFaults and MajorPageFaults count the faults of the cgroup and
	// its descendants; OwnPageFaults and OwnMajorPageFaults those of the
	// cgroup's own tasks (the same on v2, whose memory.stat is
	// hierarchical).
	PageFaults         uint64
	MajorPageFaults    uint64
	OwnPageFaults      uint64
	OwnMajorPageFaults uint64
	MappedFile         uint64
	Swap               uint64
	// KernelUsage is kernel memory charged to the cgroup (v1
	// memory.kmem.usage_in_bytes, v2 memory.stat kernel).
	KernelUsage uint64
	// MaxUsage is the peak usage (v1 max_usage_in_bytes, v2 memory.peak
	// on Linux 5.19 and later).
	MaxUsage uint64
	// Failcnt counts the times usage hit the limit (v2: memory.events max).
	Failcnt uint64
	Limit   uint64
	// Reservation is the soft limit (v1 soft_limit_in_bytes, v2
	// memory.low); SwapLimit is v1's memory+swap limit, v2's swap limit.
	Reservation uint64
	SwapLimit   uint64
}

// IODevice counts the bytes and operations a cgroup read and wrote on one
// block device.
type IODevice struct {
	Major, Minor          uint64
	ReadBytes, WriteBytes uint64
	Reads, Writes         uint64
}

// HugetlbStats are the huge page usage of one page size, in bytes;
// MaxUsage is 0 on v2, which keeps no peak.
type HugetlbStats struct {
	Usage    uint64
	MaxUsage uint64
}

// PidsStats count tasks; Limit 0 means no limit.
type PidsStats struct {
	Current uint64
	Limit   uint64
}

// PSIStats is the pressure of one cgroup per resource.
type PSIStats struct {
	CPU    PSI
	Memory PSI
	IO     PSI
}

// PSI is one pressure file: some tasks stalled, all tasks stalled.
type PSI struct {
	Some PSIData
	Full PSIData
}

// PSIData is one line of a pressure file; Total is in microseconds.
type PSIData struct {
	Avg10  float64
	Avg60  float64
	Avg300 float64
	Total  uint64
}

// workingSet is usage minus inactive file pages, never negative.
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

// ReadPSI parses a pressure file ("some avg10=0.00 avg60=0.00 avg300=0.00
// total=0" and a "full" line).
func ReadPSI(path string) (PSI, error) {
	f, err := os.Open(path)
	if err != nil {
		return PSI{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	var out PSI
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		d, err := parsePSILine(fields[1:])
		if err != nil {
			return PSI{}, fmt.Errorf("parse %s: %w", path, err)
		}
		switch fields[0] {
		case "some":
			out.Some = d
		case "full":
			out.Full = d
		}
	}
	return out, sc.Err()
}

func parsePSILine(kvs []string) (PSIData, error) {
	var d PSIData
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return d, fmt.Errorf("field %q", kv)
		}
		var err error
		switch k {
		case "avg10":
			d.Avg10, err = strconv.ParseFloat(v, 64)
		case "avg60":
			d.Avg60, err = strconv.ParseFloat(v, 64)
		case "avg300":
			d.Avg300, err = strconv.ParseFloat(v, 64)
		case "total":
			d.Total, err = strconv.ParseUint(v, 10, 64)
		}
		if err != nil {
			return d, fmt.Errorf("field %q: %w", kv, err)
		}
	}
	return d, nil
}

func readPSIStats(dir string) (*PSIStats, error) {
	var s PSIStats
	for name, dst := range map[string]*PSI{"cpu.pressure": &s.CPU, "memory.pressure": &s.Memory, "io.pressure": &s.IO} {
		p, err := ReadPSI(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		*dst = p
	}
	return &s, nil
}
