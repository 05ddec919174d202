package cgroups

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Manager handles unified hosts: one directory, controllers enabled
// through the parents' cgroup.subtree_control.
type v2Manager struct {
	namer
	root      string
	mkdirHook func(dir string) error
	// rmdir replaces unix.Rmdir in tests (a fake tree's dirs hold files).
	rmdir func(string) error
	// kill replaces SIGKILL in tests.
	kill func(pid int) error
}

// v2Controllers are the controllers a pod cgroup needs enabled.
var v2Controllers = []string{"cpu", "cpuset", "io", "memory", "pids", "hugetlb"}

func (m *v2Manager) Mode() Mode { return Unified }

func (m *v2Manager) dir(p string) (string, error) {
	fsPath, err := m.FSPath(p)
	if err != nil {
		return "", err
	}
	return filepath.Join(m.root, fsPath), nil
}

// HasController implements Manager.HasController.
func (m *v2Manager) HasController(name string) bool {
	data, err := os.ReadFile(filepath.Join(m.root, "cgroup.controllers"))
	return err == nil && slices.Contains(strings.Fields(string(data)), name)
}

func (m *v2Manager) Exists(p string) bool {
	d, err := m.dir(p)
	return err == nil && exists(d)
}

func (m *v2Manager) Create(p string, res *specs.LinuxResources) (retErr error) {
	d, err := m.dir(p)
	if err != nil {
		return err
	}
	made, err := mkdirAll(d)
	defer func() {
		if retErr != nil {
			for _, dd := range slices.Backward(made) {
				_ = removeDir(context.Background(), dd, m.rmdir)
			}
		}
	}()
	if err != nil {
		return err
	}
	for _, dd := range made {
		if m.mkdirHook != nil {
			if err := m.mkdirHook(dd); err != nil {
				return err
			}
		}
		if err := enableControllers(filepath.Dir(dd)); err != nil {
			return err
		}
	}
	return m.Apply(p, res)
}

// enableControllers turns on, in parent's subtree_control, the wanted
// controllers that parent has and has not yet delegated, so that its new
// child gets their files. That includes the root: systemd delegates from
// it only what its own units asked for (Debian 12 boots with "memory
// pids"), and runc and containerd enable the rest there too. A parent that
// refuses them together (the cpu controller while a realtime task runs
// outside the root) gets them one by one; the limit that then has no file
// reports the failure.
func enableControllers(parent string) error {
	avail, err := readString(parent, "cgroup.controllers")
	if err != nil {
		return err
	}
	enabled, err := readString(parent, "cgroup.subtree_control")
	if err != nil {
		return err
	}
	var add []string
	for _, c := range v2Controllers {
		if slices.Contains(strings.Fields(avail), c) && !slices.Contains(strings.Fields(enabled), c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = writeFile(parent, "cgroup.subtree_control", strings.Join(add, " "))
	if err == nil || len(add) == 1 {
		return err
	}
	for _, c := range add {
		_ = writeFile(parent, "cgroup.subtree_control", c)
	}
	return nil
}

// Apply writes v2 limits; unified keys are written last, verbatim, so they
// override the converted values.
func (m *v2Manager) Apply(p string, res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	d, err := m.dir(p)
	if err != nil {
		return err
	}
	for _, apply := range []func(string, *specs.LinuxResources) error{
		applyCPUv2, applyCpusetV2, applyMemoryV2, applyPidsV2, applyHugetlbV2, applyUnified,
	} {
		if err := apply(d, res); err != nil {
			return err
		}
	}
	return nil
}

// CPUSharesToWeight converts v1 cpu.shares [2, 262144] to v2 cpu.weight
// [1, 10000] with the quadratic fit runc uses, which maps the default 1024
// shares to the default weight 100.
func CPUSharesToWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	return uint64(math.Ceil(math.Pow(10, (l*l+125*l)/612.0-7.0/34.0)))
}

func applyCPUv2(dir string, res *specs.LinuxResources) error {
	c := res.CPU
	if c == nil {
		return nil
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := writeFile(dir, "cpu.weight", strconv.FormatUint(CPUSharesToWeight(*c.Shares), 10)); err != nil {
			return err
		}
	}
	var quota int64
	var period uint64
	if c.Quota != nil {
		quota = *c.Quota
	}
	if c.Period != nil {
		period = *c.Period
	}
	if quota == 0 && period == 0 {
		return nil
	}
	if period == 0 {
		period = 100000
	}
	q := "max"
	if quota > 0 {
		q = strconv.FormatInt(quota, 10)
	}
	return writeFile(dir, "cpu.max", q+" "+strconv.FormatUint(period, 10))
}

func applyCpusetV2(dir string, res *specs.LinuxResources) error {
	return applyCpusetV1(dir, res) // same file names on v2
}

// memoryMax renders a v2 memory limit: -1 is "max".
func memoryMax(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// SwapToV2 converts the OCI memory+swap total to v2's swap-only limit,
// as runc does: -1 stays unlimited, an unset swap with unlimited memory
// is unlimited, and total below memory is an error.
func SwapToV2(swap, limit int64) (int64, error) {
	switch {
	case limit == -1 && swap == 0:
		return -1, nil
	case swap == -1, swap == 0:
		return swap, nil
	case limit <= 0:
		return 0, invalid("memory+swap limit %d set without a memory limit", swap)
	case swap < limit:
		return 0, invalid("memory+swap limit %d below memory limit %d", swap, limit)
	}
	return swap - limit, nil
}

func applyMemoryV2(dir string, res *specs.LinuxResources) error {
	mem := res.Memory
	if mem == nil {
		return nil
	}
	var limit, swap int64
	if mem.Limit != nil {
		limit = *mem.Limit
	}
	if mem.Swap != nil {
		swap = *mem.Swap
	}
	swapV2, err := SwapToV2(swap, limit)
	if err != nil {
		return err
	}
	// Swap first: lowering memory.max cannot fail because of it.
	if swapV2 != 0 {
		if _, statErr := os.Stat(filepath.Join(dir, "memory.swap.max")); statErr == nil {
			if err := writeFile(dir, "memory.swap.max", memoryMax(swapV2)); err != nil {
				return err
			}
		}
	}
	if limit != 0 {
		if err := writeFile(dir, "memory.max", memoryMax(limit)); err != nil {
			return err
		}
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		return writeFile(dir, "memory.low", memoryMax(*mem.Reservation))
	}
	return nil
}

func applyPidsV2(dir string, res *specs.LinuxResources) error {
	return applyPidsV1(dir, res) // pids.max on both
}

func applyHugetlbV2(dir string, res *specs.LinuxResources) error {
	for _, h := range res.HugepageLimits {
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	return nil
}

func applyUnified(dir string, res *specs.LinuxResources) error {
	keys := make([]string, 0, len(res.Unified))
	for k := range res.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "/\x00") || strings.HasPrefix(k, ".") || strings.HasPrefix(k, "cgroup.") {
			return invalid("unified cgroup key %q", k)
		}
		if err := writeFile(dir, k, res.Unified[k]); err != nil {
			return err
		}
	}
	return nil
}

// Stats reads v2 counters, including pressure when the kernel has PSI.
func (m *v2Manager) Stats(p string) (*Stats, error) {
	d, err := m.dir(p)
	if err != nil {
		return nil, err
	}
	s := &Stats{}
	if err := cpuStatsV2(d, &s.CPU); err != nil {
		return nil, err
	}
	if err := memoryStatsV2(d, &s.Memory); err != nil {
		return nil, err
	}
	if s.IO, err = readIOStatV2(d); err != nil {
		return nil, err
	}
	if s.Hugetlb, err = readHugetlb(d, "current", ""); err != nil {
		return nil, err
	}
	if exists(d) {
		if _, err := os.Stat(filepath.Join(d, "pids.current")); err == nil {
			if err := pidsStats(d, &s.Pids); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(filepath.Join(d, "cpu.pressure")); err == nil {
			if s.PSI, err = readPSIStats(d); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func cpuStatsV2(dir string, c *CPUStats) error {
	kv, err := readKeyValues(dir, "cpu.stat")
	if err != nil {
		return err
	}
	c.UsageNanos, c.UserNanos, c.SystemNanos = kv["usage_usec"]*1000, kv["user_usec"]*1000, kv["system_usec"]*1000
	c.Periods, c.ThrottledPeriods, c.ThrottledNanos = kv["nr_periods"], kv["nr_throttled"], kv["throttled_usec"]*1000
	weight, err := readOptionalUint(dir, "cpu.weight")
	if err != nil {
		return err
	}
	c.Shares = CPUWeightToShares(weight)
	max, err := readString(dir, "cpu.max")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	c.Quota, c.Period, err = parseCPUMax(max)
	if err != nil {
		return fmt.Errorf("parse %s: %w", filepath.Join(dir, "cpu.max"), err)
	}
	return nil
}

// parseCPUMax parses cpu.max ("max 100000" or "20000 100000"); a quota of
// "max" is 0.
func parseCPUMax(s string) (quota, period uint64, err error) {
	q, p, ok := strings.Cut(s, " ")
	if !ok {
		return 0, 0, fmt.Errorf("cpu.max %q: want quota and period", s)
	}
	if period, err = strconv.ParseUint(p, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("cpu.max period: %w", err)
	}
	if q == "max" {
		return 0, period, nil
	}
	if quota, err = strconv.ParseUint(q, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("cpu.max quota: %w", err)
	}
	return quota, period, nil
}

// CPUWeightToShares inverts CPUSharesToWeight: it returns the largest
// shares that map to weight, so that the default 1024 shares (weight 100)
// come back as they went in. CPUSharesToWeight rounds up, so other shares
// come back as the largest of those that share their weight.
func CPUWeightToShares(weight uint64) uint64 {
	switch {
	case weight == 0:
		return 0
	case weight <= 1:
		return 2
	case weight >= 10000:
		return 262144
	}
	// weight = 10^((l*l+125*l)/612 - 7/34) with l = log2(shares).
	c := 612 * (math.Log10(float64(weight)) + 7.0/34.0)
	l := (-125 + math.Sqrt(125*125+4*c)) / 2
	shares := uint64(math.Round(math.Pow(2, l)))
	for shares > 2 && CPUSharesToWeight(shares) > weight {
		shares--
	}
	return shares
}

func memoryStatsV2(dir string, mem *MemoryStats) error {
	if _, err := os.Stat(filepath.Join(dir, "memory.current")); err != nil {
		return fmt.Errorf("memory controller not enabled in %s: %w", dir, err)
	}
	var err error
	for name, dst := range map[string]*uint64{
		"memory.current": &mem.Usage, "memory.max": &mem.Limit,
	} {
		if *dst, err = readUint(dir, name); err != nil {
			return err
		}
	}
	// Files of newer kernels (memory.peak: 5.19) or of swap accounting.
	for name, dst := range map[string]*uint64{
		"memory.peak": &mem.MaxUsage, "memory.swap.current": &mem.Swap, "memory.swap.max": &mem.SwapLimit,
		"memory.low": &mem.Reservation,
	} {
		if *dst, err = readOptionalUint(dir, name); err != nil {
			return err
		}
	}
	kv, err := readKeyValues(dir, "memory.stat")
	if err != nil {
		return err
	}
	mem.RSS, mem.Cache, mem.MappedFile = kv["anon"], kv["file"], kv["file_mapped"]
	mem.PageFaults, mem.MajorPageFaults = kv["pgfault"], kv["pgmajfault"]
	mem.OwnPageFaults, mem.OwnMajorPageFaults = mem.PageFaults, mem.MajorPageFaults
	mem.KernelUsage = kernelUsageV2(kv)
	mem.WorkingSet = workingSet(mem.Usage, kv["inactive_file"])
	events, err := readOptionalKeyValues(dir, "memory.events")
	if err != nil {
		return err
	}
	mem.Failcnt = events["max"]
	return nil
}

// kernelUsageV2 is memory.stat's kernel line (Linux 5.18 and later), or
// on older kernels the sum of the kernel memory it itemises.
func kernelUsageV2(kv map[string]uint64) uint64 {
	if v, ok := kv["kernel"]; ok {
		return v
	}
	return kv["kernel_stack"] + kv["pagetables"] + kv["percpu"] + kv["sock"] + kv["vmalloc"] + kv["slab"]
}

// Procs lists the processes of the cgroup.
func (m *v2Manager) Procs(p string) ([]int, error) {
	d, err := m.dir(p)
	if err != nil {
		return nil, err
	}
	return readProcs(d)
}

// Remove rmdirs the cgroup.
func (m *v2Manager) Remove(ctx context.Context, p string) error {
	d, err := m.dir(p)
	if err != nil {
		return err
	}
	return removeTree(ctx, d, m.rmdir)
}

// Kill kills the processes of the cgroup.
func (m *v2Manager) Kill(ctx context.Context, p string) error {
	d, err := m.dir(p)
	if err != nil {
		return err
	}
	return killTree(ctx, []string{d}, m.kill)
}
