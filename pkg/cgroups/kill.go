package cgroups

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
		if err := thawTree(dirs); err != nil {
			return err
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

// thawTree thaws every frozen cgroup in dirs and their descendants, after
// their processes were sent SIGKILL: a frozen process dies only once
// thawed (on cgroup v1 at least). A cgroup is left frozen by a runtime
// killed between freezing it and thawing it (libcontainer freezes a
// container without a pid namespace of its own to kill its processes
// when its init exits) or by a paused container whose shim is gone.
// Killing first, thawing second, lets no process run user code in
// between.
func thawTree(dirs []string) error {
	var errs []error
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			errs = append(errs, thaw(p))
			return nil
		})
	}
	return errors.Join(errs...)
}

// thaw thaws the cgroup dir when it is frozen: v1's freezer.state or v2's
// cgroup.freeze; a dir with neither is no freezer.
func thaw(dir string) error {
	for _, f := range []struct{ name, thawed string }{{"freezer.state", "THAWED"}, {"cgroup.freeze", "0"}} {
		state, err := readString(dir, f.name)
		if err != nil || state == f.thawed {
			continue
		}
		if err := writeFile(dir, f.name, f.thawed); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("thaw cgroup %s: %w", dir, err)
		}
	}
	return nil
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
