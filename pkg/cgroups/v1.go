package cgroups

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Manager handles legacy and hybrid hosts: one directory per hierarchy.
type v1Manager struct {
	namer
	mounts *Mounts
	// mkdirHook runs after each directory is made; tests use it to play
	// the kernel and populate control files in a fake tree.
	mkdirHook func(dir string) error
	// rmdir replaces unix.Rmdir in tests (a fake tree's dirs hold files).
	rmdir func(string) error
	// kill replaces SIGKILL in tests.
	kill func(pid int) error
}

func (m *v1Manager) Mode() Mode { return m.mounts.Mode() }

// hierarchyDirs returns the cgroup's directory in each distinct hierarchy,
// including a hybrid host's controller-less cgroup2 one: runc makes the
// path there too, and Remove must not leave it behind.
func (m *v1Manager) hierarchyDirs(p string) ([]string, error) {
	fsPath, err := m.FSPath(p)
	if err != nil {
		return nil, err
	}
	var out []string
	mounts := slices.Collect(maps.Values(m.mounts.V1))
	if m.mounts.Unified != "" {
		mounts = append(mounts, m.mounts.Unified)
	}
	for _, mnt := range mounts {
		d := filepath.Join(mnt, fsPath)
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out, nil
}

// dir returns the cgroup's directory in a controller's hierarchy.
func (m *v1Manager) dir(controller, fsPath string) (string, bool) {
	mnt, ok := m.mounts.V1[controller]
	if !ok {
		return "", false
	}
	return filepath.Join(mnt, fsPath), true
}

// HasController implements Manager.HasController.
func (m *v1Manager) HasController(name string) bool {
	_, ok := m.mounts.V1[name]
	return ok
}

func (m *v1Manager) Exists(p string) bool {
	dirs, err := m.hierarchyDirs(p)
	return err == nil && slices.ContainsFunc(dirs, exists)
}

func (m *v1Manager) Create(p string, res *specs.LinuxResources) (retErr error) {
	if res != nil && len(res.Unified) > 0 {
		return invalid("unified cgroup resources need cgroup v2, host is %s", m.Mode())
	}
	dirs, err := m.hierarchyDirs(p)
	if err != nil {
		return err
	}
	var made []string
	defer func() {
		if retErr != nil {
			for _, d := range slices.Backward(made) {
				_ = removeDir(context.Background(), d, m.rmdir)
			}
		}
	}()
	cpusetMount := m.mounts.V1["cpuset"]
	for _, d := range dirs {
		newDirs, err := mkdirAll(d)
		made = append(made, newDirs...)
		if err != nil {
			return err
		}
		if err := m.afterMkdir(newDirs, cpusetMount != "" && isUnder(d, cpusetMount)); err != nil {
			return err
		}
	}
	return m.Apply(p, res)
}

func (m *v1Manager) afterMkdir(dirs []string, cpuset bool) error {
	for _, d := range dirs {
		if m.mkdirHook != nil {
			if err := m.mkdirHook(d); err != nil {
				return err
			}
		}
		if cpuset {
			if err := inheritCpuset(d); err != nil {
				return err
			}
		}
	}
	return nil
}

func isUnder(p, root string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// inheritCpuset fills a new v1 cpuset cgroup's empty cpus and mems from its
// parent: the kernel leaves them empty and refuses tasks until they are set.
func inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readString(dir, f)
		if err != nil || cur != "" {
			return err
		}
		parent, err := readString(filepath.Dir(dir), f)
		if err != nil {
			return err
		}
		if err := writeFile(dir, f, parent); err != nil {
			return err
		}
	}
	return nil
}

// Apply writes limits. Controllers the host does not mount are skipped, as
// runc does; unified (v2) keys are refused.
func (m *v1Manager) Apply(p string, res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if len(res.Unified) > 0 {
		return invalid("unified cgroup resources need cgroup v2, host is %s", m.Mode())
	}
	fsPath, err := m.FSPath(p)
	if err != nil {
		return err
	}
	steps := []struct {
		controller string
		apply      func(string, *specs.LinuxResources) error
	}{
		{"cpu", applyCPUv1}, {"cpuset", applyCpusetV1}, {"memory", applyMemoryV1},
		{"pids", applyPidsV1}, {"hugetlb", applyHugetlbV1},
	}
	for _, s := range steps {
		if d, ok := m.dir(s.controller, fsPath); ok {
			if err := s.apply(d, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyCPUv1(dir string, res *specs.LinuxResources) error {
	c := res.CPU
	if c == nil {
		return nil
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := writeFile(dir, "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
			return err
		}
	}
	// The period first: a quota is checked against the current period.
	if c.Period != nil && *c.Period != 0 {
		if err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10)); err != nil {
			return err
		}
	}
	if c.Quota != nil && *c.Quota != 0 {
		if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		return writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10))
	}
	return nil
}

func applyCpusetV1(dir string, res *specs.LinuxResources) error {
	if res.CPU == nil {
		return nil
	}
	if res.CPU.Cpus != "" {
		if err := writeFile(dir, "cpuset.cpus", res.CPU.Cpus); err != nil {
			return err
		}
	}
	if res.CPU.Mems != "" {
		return writeFile(dir, "cpuset.mems", res.CPU.Mems)
	}
	return nil
}

// applyMemoryV1 sets memory and memory+swap limits in the order the kernel
// accepts: memsw may never be below the memory limit, so when growing, memsw
// goes first.
func applyMemoryV1(dir string, res *specs.LinuxResources) error {
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
	if limit == -1 && swap == 0 {
		swap = -1
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
		swap = 0 // no swap accounting on the host: nothing to limit
	}
	if err := writeMemoryLimits(dir, limit, swap); err != nil {
		return err
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		return writeFile(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10))
	}
	return nil
}

func writeMemoryLimits(dir string, limit, swap int64) error {
	setLimit := func() error {
		if limit == 0 {
			return nil
		}
		return writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	setSwap := func() error {
		if swap == 0 {
			return nil
		}
		return writeFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	}
	cur, err := readUint(dir, "memory.limit_in_bytes")
	if err != nil {
		return err
	}
	if swap == -1 || (swap > 0 && cur < uint64(swap)) {
		if err := setSwap(); err != nil {
			return err
		}
		return setLimit()
	}
	if err := setLimit(); err != nil {
		return err
	}
	return setSwap()
}

func applyPidsV1(dir string, res *specs.LinuxResources) error {
	if res.Pids == nil || res.Pids.Limit == nil {
		return nil
	}
	return writeFile(dir, "pids.max", pidsMax(*res.Pids.Limit))
}

func pidsMax(v int64) string {
	if v <= 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func applyHugetlbV1(dir string, res *specs.LinuxResources) error {
	for _, h := range res.HugepageLimits {
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".limit_in_bytes", strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	return nil
}

// v1Unlimited is the smallest value v1 reports for "no limit" (the page
// aligned maximum of a signed 64-bit counter).
const v1Unlimited = 1 << 62

// Stats reads v1 counters and settings from the hierarchies the host
// mounts, and pressure from a hybrid host's cgroup2 hierarchy.
func (m *v1Manager) Stats(p string) (*Stats, error) {
	fsPath, err := m.FSPath(p)
	if err != nil {
		return nil, err
	}
	s := &Stats{}
	steps := []struct {
		controller string
		read       func(string, *Stats) error
	}{
		{"cpuacct", func(d string, s *Stats) error { return cpuacctStats(d, &s.CPU) }},
		{"cpu", func(d string, s *Stats) error { return cpuV1(d, &s.CPU) }},
		{"memory", func(d string, s *Stats) error { return memoryStatsV1(d, &s.Memory) }},
		{"pids", func(d string, s *Stats) error { return pidsStats(d, &s.Pids) }},
		{"blkio", func(d string, s *Stats) (err error) { s.IO, err = readBlkioV1(d); return err }},
		{"hugetlb", func(d string, s *Stats) (err error) {
			s.Hugetlb, err = readHugetlb(d, "usage_in_bytes", "max_usage_in_bytes")
			return err
		}},
	}
	for _, step := range steps {
		if d, ok := m.dir(step.controller, fsPath); ok {
			if err := step.read(d, s); err != nil {
				return nil, err
			}
		}
	}
	if m.mounts.Unified != "" {
		d := filepath.Join(m.mounts.Unified, fsPath)
		if _, err := os.Stat(filepath.Join(d, "cpu.pressure")); err == nil {
			if s.PSI, err = readPSIStats(d); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Procs lists the processes of the cgroup, from the first of the pids,
// cpu and memory hierarchies the host mounts, else any other: runtimes put
// a container's processes at the same path in every hierarchy.
func (m *v1Manager) Procs(p string) ([]int, error) {
	fsPath, err := m.FSPath(p)
	if err != nil {
		return nil, err
	}
	order := append([]string{"pids", "cpu", "memory"}, slices.Sorted(maps.Keys(m.mounts.V1))...)
	for _, c := range order {
		if d, ok := m.dir(c, fsPath); ok {
			return readProcs(d)
		}
	}
	return nil, fmt.Errorf("processes of cgroup %s: no v1 hierarchy mounted", p)
}

// userHZ is the unit of cpuacct.stat (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

func cpuacctStats(dir string, c *CPUStats) error {
	var err error
	if c.UsageNanos, err = readUint(dir, "cpuacct.usage"); err != nil {
		return err
	}
	kv, err := readKeyValues(dir, "cpuacct.stat")
	if err != nil {
		return err
	}
	c.UserNanos = kv["user"] * (1e9 / userHZ)
	c.SystemNanos = kv["system"] * (1e9 / userHZ)
	return nil
}

// cpuV1 reads CFS throttling and the CPU settings of a cpu cgroup.
func cpuV1(dir string, c *CPUStats) error {
	kv, err := readKeyValues(dir, "cpu.stat")
	if err != nil {
		return err
	}
	c.Periods, c.ThrottledPeriods, c.ThrottledNanos = kv["nr_periods"], kv["nr_throttled"], kv["throttled_time"]
	if c.Shares, err = readOptionalUint(dir, "cpu.shares"); err != nil {
		return err
	}
	if c.Period, err = readOptionalUint(dir, "cpu.cfs_period_us"); err != nil {
		return err
	}
	q, err := readString(dir, "cpu.cfs_quota_us")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	quota, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return fmt.Errorf("parse %s: %w", filepath.Join(dir, "cpu.cfs_quota_us"), err)
	}
	if quota > 0 { // -1: no quota
		c.Quota = uint64(quota)
	}
	return nil
}

func memoryStatsV1(dir string, mem *MemoryStats) error {
	var err error
	if mem.Usage, err = readUint(dir, "memory.usage_in_bytes"); err != nil {
		return err
	}
	if mem.Limit, err = readV1Limit(dir, "memory.limit_in_bytes"); err != nil {
		return err
	}
	kv, err := readKeyValues(dir, "memory.stat")
	if err != nil {
		return err
	}
	mem.RSS, mem.Cache = kv["total_rss"], kv["total_cache"]
	mem.PageFaults, mem.MajorPageFaults = kv["total_pgfault"], kv["total_pgmajfault"]
	mem.OwnPageFaults, mem.OwnMajorPageFaults = kv["pgfault"], kv["pgmajfault"]
	mem.MappedFile, mem.Swap = kv["total_mapped_file"], kv["total_swap"]
	mem.WorkingSet = workingSet(mem.Usage, kv["total_inactive_file"])
	for name, dst := range map[string]*uint64{
		"memory.failcnt": &mem.Failcnt, "memory.max_usage_in_bytes": &mem.MaxUsage,
		"memory.kmem.usage_in_bytes": &mem.KernelUsage,
	} {
		if *dst, err = readOptionalUint(dir, name); err != nil {
			return err
		}
	}
	if mem.Reservation, err = readV1Limit(dir, "memory.soft_limit_in_bytes"); err != nil {
		return err
	}
	mem.SwapLimit, err = readV1Limit(dir, "memory.memsw.limit_in_bytes")
	return err
}

// readV1Limit reads a v1 byte limit; no limit, or no such file (no swap
// accounting), reads as 0.
func readV1Limit(dir, name string) (uint64, error) {
	v, err := readOptionalUint(dir, name)
	if v >= v1Unlimited {
		v = 0
	}
	return v, err
}

func pidsStats(dir string, p *PidsStats) error {
	var err error
	if p.Current, err = readUint(dir, "pids.current"); err != nil {
		return err
	}
	p.Limit, err = readUint(dir, "pids.max")
	return err
}

// Remove removes the cgroup from every hierarchy.
func (m *v1Manager) Remove(ctx context.Context, p string) error {
	dirs, err := m.hierarchyDirs(p)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		errs = append(errs, removeTree(ctx, d, m.rmdir))
	}
	return errors.Join(errs...)
}

// Kill kills the processes of the cgroup in every hierarchy.
func (m *v1Manager) Kill(ctx context.Context, p string) error {
	dirs, err := m.hierarchyDirs(p)
	if err != nil {
		return err
	}
	return killTree(ctx, dirs, m.kill)
}
