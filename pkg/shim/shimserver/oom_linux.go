package shimserver

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupRoot is where cgroupfs is mounted; tests point it at a fake tree.
var cgroupRoot = "/sys/fs/cgroup"

// oomCounter reads the kernel's count of OOM kills in one memory cgroup:
// "oom_kill" in memory.oom_control (v1, Linux >= 4.13) or memory.events (v2).
type oomCounter struct {
	file string
}

// oomCounterOf finds the memory cgroup of pid from /proc/<pid>/cgroup. On a
// hybrid host the v1 memory hierarchy wins, since the unified one there has
// no controllers. It returns nil when there is nothing to watch.
func oomCounterOf(pid int) *oomCounter {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil
	}
	return oomCounterFrom(data)
}

func oomCounterFrom(procCgroup []byte) *oomCounter {
	var unified string
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return &oomCounter{file: filepath.Join(cgroupRoot, "memory", parts[2], "memory.oom_control")}
			}
		}
	}
	if unified == "" {
		return nil
	}
	f := filepath.Join(cgroupRoot, unified, "memory.events")
	if _, err := os.Stat(f); err != nil {
		return nil
	}
	return &oomCounter{file: f}
}

// Count returns the oom_kill counter, or -1 when it cannot be read.
func (o *oomCounter) Count() int64 {
	if o == nil {
		return -1
	}
	data, err := os.ReadFile(o.file)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
