package cgroups

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// writeFile writes one control file. Control files exist as soon as the
// cgroup does, so the file is never created.
func writeFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

func readString(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a single number; "max" reads as 0 (no limit).
func readUint(dir, name string) (uint64, error) {
	s, err := readString(dir, name)
	if err != nil {
		return 0, err
	}
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// readKeyValues reads "key value" lines (memory.stat, cpu.stat, cpuacct.stat).
func readKeyValues(dir, name string) (map[string]uint64, error) {
	p := filepath.Join(dir, name)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return out, nil
}

// mkdirAll makes dir and its missing parents and returns those it made,
// outermost first.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("stat %s: %w", d, err)
		}
		missing = append([]string{d}, missing...)
		if d == filepath.Dir(d) {
			break
		}
	}
	var made []string
	for _, d := range missing {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return made, fmt.Errorf("mkdir %s: %w", d, err)
		}
		made = append(made, d)
	}
	return made, nil
}

// How Remove retries rmdir on EBUSY.
var (
	removeRetryDelay = 20 * time.Millisecond
	removeTimeout    = time.Second
)

// removeDir rmdirs a cgroup with rmdir (unix.Rmdir when nil), retrying
// EBUSY (the kernel releases a cgroup a moment after its last task exits)
// until ctx ends or removeTimeout passes. A missing dir is success; one with
// tasks or children is an error.
func removeDir(ctx context.Context, dir string, rmdir func(string) error) error {
	if rmdir == nil {
		rmdir = unix.Rmdir
	}
	// Child cgroups go first: a runtime whose create failed half-way
	// (crun leaves the container's cgroup in the controllers it reached)
	// would otherwise keep the pod's cgroup busy forever. rmdir refuses
	// a cgroup that still has processes, so nothing live is removed.
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list child cgroups of %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeDir(ctx, filepath.Join(dir, e.Name()), rmdir); err != nil {
				return err
			}
		}
	}
	deadline := time.Now().Add(removeTimeout)
	for {
		err := rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rmdir %s: %w (%w)", dir, err, ctx.Err())
		case <-time.After(removeRetryDelay):
		}
	}
}

func exists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// readOptionalUint is readUint for a file the kernel may lack (a newer
// or older interface, an accounting option turned off): a missing file
// reads as 0.
func readOptionalUint(dir, name string) (uint64, error) {
	v, err := readUint(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return v, err
}

// readOptionalKeyValues is readKeyValues for a file the kernel may lack;
// a missing file reads as empty.
func readOptionalKeyValues(dir, name string) (map[string]uint64, error) {
	kv, err := readKeyValues(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]uint64{}, nil
	}
	return kv, err
}

// readProcs reads a cgroup.procs file.
func readProcs(dir string) ([]int, error) {
	s, err := readString(dir, "cgroup.procs")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cgroup %s: %w", dir, errdefs.ErrNotFound)
		}
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "cgroup.procs"), err)
		}
		out = append(out, pid)
	}
	return out, nil
}
