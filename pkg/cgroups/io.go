package cgroups

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// blkioV1Files are the v1 recursive byte and operation counters, in the
// order they are preferred: the CFQ and BFQ schedulers' count only devices
// they schedule, the throttle layer's counts every bio the cgroup issued.
var blkioV1Files = [][2]string{
	{"blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"},
	{"blkio.bfq.io_service_bytes_recursive", "blkio.bfq.io_serviced_recursive"},
	{"blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"},
}

// readBlkioV1 reads a v1 blkio cgroup's counters from the first set of
// files that counts any device.
func readBlkioV1(dir string) ([]IODevice, error) {
	for _, files := range blkioV1Files {
		devs := map[[2]uint64]*IODevice{}
		if err := parseBlkioV1(filepath.Join(dir, files[0]), devs, func(d *IODevice, op string, v uint64) {
			addOp(op, v, &d.ReadBytes, &d.WriteBytes)
		}); err != nil {
			return nil, err
		}
		if len(devs) == 0 {
			continue
		}
		if err := parseBlkioV1(filepath.Join(dir, files[1]), devs, func(d *IODevice, op string, v uint64) {
			addOp(op, v, &d.Reads, &d.Writes)
		}); err != nil {
			return nil, err
		}
		return sortedDevices(devs), nil
	}
	return nil, nil
}

func addOp(op string, v uint64, read, write *uint64) {
	switch op {
	case "Read":
		*read = v
	case "Write":
		*write = v
	}
}

// parseBlkioV1 parses "major:minor Op value" lines (and a final "Total
// value" line) into devs; a missing file counts nothing.
func parseBlkioV1(name string, devs map[[2]uint64]*IODevice, set func(*IODevice, string, uint64)) error {
	f, err := os.Open(name)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		key, err := parseDevice(fields[0])
		if err != nil {
			return fmt.Errorf("parse %s: %w", name, err)
		}
		v, err := strconv.ParseUint(fields[2], 10, 64)
		if err != nil {
			return fmt.Errorf("parse %s: %w", name, err)
		}
		set(device(devs, key), fields[1], v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// readIOStatV2 parses v2 io.stat ("major:minor rbytes=N wbytes=N rios=N
// wios=N ..."); a missing file (io controller not enabled) counts nothing.
func readIOStatV2(dir string) ([]IODevice, error) {
	name := filepath.Join(dir, "io.stat")
	b, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	devs := map[[2]uint64]*IODevice{}
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		key, err := parseDevice(fields[0])
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		d := device(devs, key)
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse %s: field %q: %w", name, kv, err)
			}
			switch k {
			case "rbytes":
				d.ReadBytes = n
			case "wbytes":
				d.WriteBytes = n
			case "rios":
				d.Reads = n
			case "wios":
				d.Writes = n
			}
		}
	}
	return sortedDevices(devs), nil
}

func parseDevice(s string) ([2]uint64, error) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return [2]uint64{}, fmt.Errorf("device %q is not major:minor", s)
	}
	a, err := strconv.ParseUint(maj, 10, 64)
	if err != nil {
		return [2]uint64{}, fmt.Errorf("device %q: %w", s, err)
	}
	b, err := strconv.ParseUint(min, 10, 64)
	if err != nil {
		return [2]uint64{}, fmt.Errorf("device %q: %w", s, err)
	}
	return [2]uint64{a, b}, nil
}

func device(devs map[[2]uint64]*IODevice, key [2]uint64) *IODevice {
	d, ok := devs[key]
	if !ok {
		d = &IODevice{Major: key[0], Minor: key[1]}
		devs[key] = d
	}
	return d
}

func sortedDevices(devs map[[2]uint64]*IODevice) []IODevice {
	if len(devs) == 0 {
		return nil
	}
	out := make([]IODevice, 0, len(devs))
	for _, d := range devs {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b IODevice) int {
		if c := cmp.Compare(a.Major, b.Major); c != 0 {
			return c
		}
		return cmp.Compare(a.Minor, b.Minor)
	})
	return out
}

// readHugetlb reads the usage of each huge page size from the files named
// hugetlb.<size>.<usage> (and, when maxUsage is set, hugetlb.<size>.<maxUsage>);
// none when the controller is absent.
func readHugetlb(dir, usage, maxUsage string) (map[string]HugetlbStats, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "hugetlb.*."+usage))
	if err != nil {
		return nil, fmt.Errorf("list hugetlb files in %s: %w", dir, err)
	}
	var out map[string]HugetlbStats
	for _, m := range matches {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "hugetlb."), "."+usage)
		if strings.Contains(size, ".") { // hugetlb.2MB.rsvd.*: reservations
			continue
		}
		var h HugetlbStats
		if h.Usage, err = readUint(dir, filepath.Base(m)); err != nil {
			return nil, err
		}
		if maxUsage != "" {
			if h.MaxUsage, err = readOptionalUint(dir, "hugetlb."+size+"."+maxUsage); err != nil {
				return nil, err
			}
		}
		if out == nil {
			out = map[string]HugetlbStats{}
		}
		out[size] = h
	}
	return out, nil
}
