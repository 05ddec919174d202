package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// pidsCmd prints the processes a run started below cricketd, so that run.sh
// can end them by PID: those carrying the run's environment marker (the
// daemon and the shims, which inherit it), those naming the run's directory
// on their command line or working in it, and those inside a namespace that
// is pinned under it (the pods' containers). Never this process or its
// ancestors (run.sh, make, CI).
func pidsCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("pids", flag.ContinueOnError)
	dir := fs.String("dir", "", "the run's directory (required)")
	marker := fs.String("marker", "", "KEY=VALUE environment entry that marks the run's processes")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if *dir == "" || !filepath.IsAbs(*dir) {
		return fmt.Errorf("--dir must be an absolute path: %w", errUsage)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	m := matcher{
		dir:     filepath.Clean(*dir),
		marker:  *marker,
		nsIDs:   pinnedNamespaces(mountinfo, filepath.Clean(*dir)),
		exclude: ancestors("/proc", os.Getpid()),
	}
	pids, err := m.scan("/proc")
	for _, pid := range pids {
		fmt.Fprintln(out, pid)
	}
	return err
}

type matcher struct {
	dir     string
	marker  string
	nsIDs   map[string]bool // "net:[4026532301]"
	exclude map[int]bool
}

func (m matcher) scan(procRoot string) ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || m.exclude[pid] {
			continue
		}
		if m.matches(filepath.Join(procRoot, e.Name())) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// matches reports whether the process at p (/proc/PID) belongs to the run.
// Processes that vanish or cannot be read simply do not match.
func (m matcher) matches(p string) bool {
	if m.marker != "" {
		if env, err := os.ReadFile(filepath.Join(p, "environ")); err == nil && slices.Contains(strings.Split(string(env), "\x00"), m.marker) {
			return true
		}
	}
	if cmdline, err := os.ReadFile(filepath.Join(p, "cmdline")); err == nil {
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if m.under(string(arg)) || bytes.Contains(arg, []byte("="+m.dir+"/")) {
				return true
			}
		}
	}
	if cwd, err := os.Readlink(filepath.Join(p, "cwd")); err == nil && m.under(cwd) {
		return true
	}
	for _, ns := range []string{"net", "ipc", "uts", "pid", "mnt"} {
		if id, err := os.Readlink(filepath.Join(p, "ns", ns)); err == nil && m.nsIDs[id] {
			return true
		}
	}
	return false
}

func (m matcher) under(path string) bool {
	return path == m.dir || strings.HasPrefix(path, m.dir+"/")
}

// pinnedNamespaces returns the namespaces bind-mounted (nsfs) at or below
// dir, in the form /proc/PID/ns links print them.
func pinnedNamespaces(mountinfo []byte, dir string) map[string]bool {
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) || fields[sep+1] != "nsfs" {
			continue
		}
		mountPoint := unescapeMountinfo(fields[4])
		if mountPoint == dir || strings.HasPrefix(mountPoint, dir+"/") {
			ids[fields[3]] = true
		}
	}
	return ids
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ancestors returns pid and every process above it.
func ancestors(procRoot string, pid int) map[int]bool {
	seen := map[int]bool{}
	for pid > 0 && !seen[pid] {
		seen[pid] = true
		stat, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
		if err != nil {
			break
		}
		// The comm field is parenthesised and may hold spaces: ppid is the
		// second field after its closing parenthesis.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		fields := strings.Fields(string(rest))
		if len(fields) < 2 {
			break
		}
		pid, _ = strconv.Atoi(fields[1])
	}
	return seen
}
