package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Mounts are the cgroup filesystems of a host.
type Mounts struct {
	// Unified is the cgroup2 mount point, if any.
	Unified string
	// V1 maps each v1 controller (and "name=systemd"-style named
	// hierarchies) to its mount point. Co-mounted controllers share one.
	V1 map[string]string
}

// Mode derives the layout: only cgroup2 is unified, v1 with a cgroup2
// mount is hybrid, v1 alone is legacy; zero means no cgroups.
func (m *Mounts) Mode() Mode {
	switch {
	case len(m.V1) > 0 && m.Unified != "":
		return Hybrid
	case len(m.V1) > 0:
		return Legacy
	case m.Unified != "":
		return Unified
	}
	return 0
}

// ReadMounts parses a mountinfo file.
func ReadMounts(path string) (*Mounts, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	m, err := ParseMountInfo(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return m, nil
}

// ParseMountInfo finds the cgroup mounts in mountinfo content
// (proc(5): "id parent major:minor root mountpoint options [optional...] -
// fstype source superoptions"). When a hierarchy is mounted twice the
// first mount wins, as the kernel lists the original first.
func ParseMountInfo(r io.Reader) (*Mounts, error) {
	m := &Mounts{V1: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := indexOf(fields, "-")
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		mountPoint := unescapeMountInfo(fields[4])
		switch fields[sep+1] {
		case "cgroup2":
			if m.Unified == "" {
				m.Unified = mountPoint
			}
		case "cgroup":
			for _, opt := range strings.Split(fields[sep+3], ",") {
				if isV1Controller(opt) {
					if _, seen := m.V1[opt]; !seen {
						m.V1[opt] = mountPoint
					}
				}
			}
		}
	}
	return m, sc.Err()
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// isV1Controller tells the controller names among v1 super options (which
// also carry rw, relatime, clone_children...).
func isV1Controller(opt string) bool {
	if strings.HasPrefix(opt, "name=") {
		return true
	}
	switch opt {
	case "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
		"blkio", "perf_event", "hugetlb", "pids", "rdma", "misc":
		return true
	}
	return false
}

// unescapeMountInfo undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
