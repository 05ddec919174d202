package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats are the usage counters of a cgroup. Zero means not available.
type Stats struct {
	CPU    CPUStats
	Memory MemoryStats
	Pids   PidsStats
	// PSI is pressure stall information, on cgroup v2 only.
	PSI *PSIStats
}

// CPUStats are cumulative CPU times in nanoseconds and CFS throttling.
type CPUStats struct {
	UsageNanos       uint64
	UserNanos        uint64
	SystemNanos      uint64
	Periods          uint64
	ThrottledPeriods uint64
	ThrottledNanos   uint64
}

// MemoryStats are in bytes, except the fault counts. WorkingSet is usage
// minus inactive file pages, as the kubelet computes it. Limit 0 means no
// limit.
type MemoryStats struct {
	Usage           uint64
	WorkingSet      uint64
	RSS             uint64
	Cache           uint64
	PageFaults      uint64
	MajorPageFaults uint64
	Limit           uint64
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
