package oci

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Resources converts CRI container resources to OCI resources. Zero values
// mean unset, as in the CRI; negative values are rejected except a cpu quota
// or swap limit of -1 (unlimited). A nil request gives nil.
func Resources(r *runtimeapi.LinuxContainerResources) (*specs.LinuxResources, error) {
	if r == nil {
		return nil, nil
	}
	cpu, err := cpuResources(r)
	if err != nil {
		return nil, err
	}
	mem, err := memoryResources(r)
	if err != nil {
		return nil, err
	}
	out := &specs.LinuxResources{CPU: cpu, Memory: mem}
	for _, h := range r.GetHugepageLimits() {
		if h.GetPageSize() == "" || strings.ContainsAny(h.GetPageSize(), "/.\x00") {
			return nil, invalid("hugepage limit with page size %q", h.GetPageSize())
		}
		out.HugepageLimits = append(out.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	if len(r.GetUnified()) > 0 {
		out.Unified = make(map[string]string, len(r.GetUnified()))
		for k, v := range r.GetUnified() {
			if k == "" || strings.ContainsAny(k, "/\x00") || strings.HasPrefix(k, ".") {
				return nil, invalid("unified resource key %q", k)
			}
			out.Unified[k] = v
		}
	}
	return out, nil
}

func cpuResources(r *runtimeapi.LinuxContainerResources) (*specs.LinuxCPU, error) {
	c := &specs.LinuxCPU{Cpus: r.GetCpusetCpus(), Mems: r.GetCpusetMems()}
	if err := checkCPUList("cpuset_cpus", c.Cpus); err != nil {
		return nil, err
	}
	if err := checkCPUList("cpuset_mems", c.Mems); err != nil {
		return nil, err
	}
	switch {
	case r.GetCpuShares() < 0:
		return nil, invalid("negative cpu_shares %d", r.GetCpuShares())
	case r.GetCpuPeriod() < 0:
		return nil, invalid("negative cpu_period %d", r.GetCpuPeriod())
	case r.GetCpuQuota() < -1:
		return nil, invalid("cpu_quota %d below -1", r.GetCpuQuota())
	}
	if v := uint64(r.GetCpuShares()); v != 0 {
		c.Shares = &v
	}
	if v := uint64(r.GetCpuPeriod()); v != 0 {
		c.Period = &v
	}
	if v := r.GetCpuQuota(); v != 0 {
		c.Quota = &v
	}
	if c.Shares == nil && c.Period == nil && c.Quota == nil && c.Cpus == "" && c.Mems == "" {
		return nil, nil
	}
	return c, nil
}

// checkCPUList accepts the kernel's list format: "0-3,5,7-8".
func checkCPUList(field, s string) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isDigits(lo) || (isRange && !isDigits(hi)) {
			return invalid("%s %q is not a cpu list", field, s)
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func memoryResources(r *runtimeapi.LinuxContainerResources) (*specs.LinuxMemory, error) {
	limit, swap := r.GetMemoryLimitInBytes(), r.GetMemorySwapLimitInBytes()
	switch {
	case limit < 0:
		return nil, invalid("negative memory_limit_in_bytes %d", limit)
	case swap < -1:
		return nil, invalid("memory_swap_limit_in_bytes %d below -1", swap)
	case swap > 0 && limit > 0 && swap < limit:
		return nil, invalid("memory_swap_limit_in_bytes %d below memory_limit_in_bytes %d", swap, limit)
	}
	if limit == 0 && swap == 0 {
		return nil, nil
	}
	m := &specs.LinuxMemory{}
	if limit != 0 {
		m.Limit = &limit
	}
	if swap != 0 {
		m.Swap = &swap
	}
	return m, nil
}

// WithResources sets cgroup resources from the CRI, keeping the device
// rules already in the spec.
func WithResources(r *runtimeapi.LinuxContainerResources) SpecOpt {
	return func(s *specs.Spec) error {
		res, err := Resources(r)
		if err != nil || res == nil {
			return err
		}
		res.Devices = s.Linux.Resources.Devices
		s.Linux.Resources = res
		return nil
	}
}

// PodResources are the limits of a pod cgroup the runtime creates itself
// (a pod without a cgroup_parent): the sum of the containers' resources
// the kubelet sends plus the pod's overhead. A field the resources leave
// unlimited stays unlimited. Nil when neither is set.
func PodResources(cfg *runtimeapi.LinuxPodSandboxConfig) (*specs.LinuxResources, error) {
	r, o := cfg.GetResources(), cfg.GetOverhead()
	if r == nil && o == nil {
		return nil, nil
	}
	for name, x := range map[string]*runtimeapi.LinuxContainerResources{"resources": r, "overhead": o} {
		if _, err := Resources(x); err != nil {
			return nil, fmt.Errorf("pod %s: %w", name, err)
		}
	}
	sum := &runtimeapi.LinuxContainerResources{
		CpuShares:  r.GetCpuShares() + o.GetCpuShares(),
		CpuPeriod:  r.GetCpuPeriod(),
		CpusetCpus: r.GetCpusetCpus(),
		CpusetMems: r.GetCpusetMems(),
	}
	if r.GetCpuQuota() > 0 {
		sum.CpuQuota = r.GetCpuQuota() + max(o.GetCpuQuota(), 0)
	}
	if r.GetMemoryLimitInBytes() > 0 {
		sum.MemoryLimitInBytes = r.GetMemoryLimitInBytes() + o.GetMemoryLimitInBytes()
	}
	return Resources(sum)
}
