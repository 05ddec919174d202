package cgroups

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// How Kill waits for killed processes to leave their cgroups.
var (
	killRetryDelay = 20 * time.Millisecond
	killTimeout    = 5 * time.Second
)

// killTree SIGKILLs every process in the cgroup dirs and their descendant
// cgroups, again and again (a process may fork meanwhile), until none is
// left. kill is unix.Kill with SIGKILL when nil.
func killTree(ctx context.Context, dirs []string, kill func(pid int) error) error {
	if kill == nil {
		kill = func(pid int) error { return unix.Kill(pid, unix.SIGKILL) }
	}
	deadline := time.Now().Add(killTimeout)
	for {
		pids := procsUnder(dirs)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			if err := kill(pid); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("kill process %d of cgroup %s: %w", pid, dirs[0], err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v still there %v after SIGKILL: %w", dirs[0], pids, killTimeout, errdefs.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill processes of cgroup %s: %w", dirs[0], ctx.Err())
		case <-time.After(killRetryDelay):
		}
	}
}

// procsUnder lists the processes of the cgroup dirs and their
// descendants; missing dirs hold none.
func procsUnder(dirs []string) []int {
	var out []int
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			pids, _ := readProcs(p)
			for _, pid := range pids {
				if !slices.Contains(out, pid) {
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// removeTree removes a cgroup dir after its descendants, deepest first:
// a container cgroup whose runtime died before removing it must not keep
// its pod's cgroup forever.
func removeTree(ctx context.Context, dir string, rmdir func(string) error) error {
	var subs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != dir {
			subs = append(subs, p)
		}
		return nil
	})
	// WalkDir visits parents before children: backwards, children first.
	for i := len(subs) - 1; i >= 0; i-- {
		if err := removeDir(ctx, subs[i], rmdir); err != nil {
			return err
		}
	}
	return removeDir(ctx, dir, rmdir)
}
