package stats

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultProcRoot is where process information is read from.
const DefaultProcRoot = "/proc"

// ProcStats describe the processes of one cgroup, read from /proc.
type ProcStats struct {
	// Processes counts the processes in the cgroup.
	Processes uint64
	// FDs counts their open file descriptors, Sockets those that are
	// sockets.
	FDs, Sockets uint64
	// Threads counts their threads.
	Threads uint64
	// Ulimits are the finite soft resource limits of the root process.
	Ulimits []Ulimit
}

// Ulimit is one soft resource limit, named as cAdvisor names it: the
// /proc/<pid>/limits row in snake case ("max_open_files").
type Ulimit struct {
	Name string
	Soft uint64
}

// ReadProcs describes the processes pids under procRoot. rootPid is the
// process whose limits are reported; 0 means the first of pids. A process
// that exits while it is read is left out.
func ReadProcs(procRoot string, pids []int, rootPid int) (*ProcStats, error) {
	out := &ProcStats{}
	for _, pid := range pids {
		dir := filepath.Join(procRoot, strconv.Itoa(pid))
		threads, err := readThreads(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fds, sockets, err := countFDs(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out.Processes++
		out.Threads += threads
		out.FDs += fds
		out.Sockets += sockets
	}
	if rootPid == 0 && len(pids) > 0 {
		rootPid = pids[0]
	}
	if rootPid != 0 {
		ulimits, err := readUlimits(filepath.Join(procRoot, strconv.Itoa(rootPid), "limits"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out.Ulimits = ulimits
	}
	return out, nil
}

// readThreads returns the Threads line of a process's status file.
func readThreads(dir string) (uint64, error) {
	name := filepath.Join(dir, "status")
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s: Threads %q: %w", name, v, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return 0, fmt.Errorf("%s has no Threads line", name)
}

// countFDs counts a process's open descriptors and, among them, sockets
// (whose link reads "socket:[inode]"). A descriptor closed while it is
// read is still counted: it was open when the directory was listed.
func countFDs(dir string) (fds, sockets uint64, err error) {
	fdDir := filepath.Join(dir, "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, 0, fmt.Errorf("list %s: %w", fdDir, err)
	}
	for _, e := range entries {
		fds++
		if target, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return fds, sockets, nil
}

// readUlimits parses /proc/<pid>/limits, whose columns are fixed-width
// under a header ("Limit  Soft Limit  Hard Limit  Units"); unlimited soft
// limits are left out, as a CRI metric value cannot say -1.
func readUlimits(name string) ([]Ulimit, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	lines := strings.Split(string(b), "\n")
	soft := strings.Index(lines[0], "Soft Limit")
	if soft < 0 {
		return nil, fmt.Errorf("parse %s: no Soft Limit column", name)
	}
	var out []Ulimit
	for _, line := range lines[1:] {
		if len(line) <= soft {
			continue
		}
		fields := strings.Fields(line[soft:])
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil { // "unlimited"
			continue
		}
		label := strings.ToLower(strings.Join(strings.Fields(line[:soft]), "_"))
		out = append(out, Ulimit{Name: label, Soft: v})
	}
	return out, nil
}
