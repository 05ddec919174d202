package stats

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cricket-cri/cricket/pkg/cgroups"
)

// CgroupOOM counts OOM kills from the kernel's per-cgroup counter: the
// oom_kill line of memory.events on cgroup v2, of memory.oom_control on v1
// (Linux 4.13 and later; older kernels count nothing).
type CgroupOOM struct {
	mounts *cgroups.Mounts
	fsPath func(string) (string, error)
}

// NewCgroupOOM returns an OOM counter for the cgroups mgr manages, whose
// mounts are read from mountinfo ("" means cgroups.DefaultMountInfo).
func NewCgroupOOM(mgr cgroups.Manager, mountinfo string) (*CgroupOOM, error) {
	if mountinfo == "" {
		mountinfo = cgroups.DefaultMountInfo
	}
	m, err := cgroups.ReadMounts(mountinfo)
	if err != nil {
		return nil, err
	}
	if mgr.Mode() != cgroups.Unified {
		// A hybrid host's cgroup2 mount has no memory controller.
		m = &cgroups.Mounts{V1: m.V1}
	}
	return &CgroupOOM{mounts: m, fsPath: mgr.FSPath}, nil
}

// OOMKills implements OOMCounter.
func (o *CgroupOOM) OOMKills(cgroupPath string) (uint64, error) {
	fs, err := o.fsPath(cgroupPath)
	if err != nil {
		return 0, err
	}
	if o.mounts.Unified != "" {
		return readOOMKill(filepath.Join(o.mounts.Unified, fs, "memory.events"))
	}
	mnt, ok := o.mounts.V1["memory"]
	if !ok {
		return 0, fmt.Errorf("no memory cgroup hierarchy mounted")
	}
	return readOOMKill(filepath.Join(mnt, fs, "memory.oom_control"))
}

// readOOMKill returns the value of the "oom_kill" line of a flat keyed
// file, 0 when there is none.
func readOOMKill(name string) (uint64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || k != "oom_kill" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: oom_kill %q: %w", name, v, err)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return 0, nil
}
