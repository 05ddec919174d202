package securefs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/test/testutil"
)

func TestResolveHostPath(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	vol, outside := filepath.Join(base, "vol"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(vol, "dir"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		filepath.Join(vol, "root"):   "/",
		filepath.Join(vol, "out"):    "../outside",
		filepath.Join(vol, "in"):     "dir",
		filepath.Join(vol, "abs-in"): filepath.Join(vol, "dir"),
		filepath.Join(base, "host"):  "vol/dir", // a host symlink, outside any volume
		filepath.Join(vol, "loop1"):  "loop2",
		filepath.Join(vol, "loop2"):  "loop1",
	}
	for l, target := range links {
		if err := os.Symlink(target, l); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		desc, path string
		untrusted  []string
		want       string
		wantErr    error
	}{
		{desc: "plain", path: filepath.Join(vol, "dir"), untrusted: []string{vol}, want: filepath.Join(vol, "dir")},
		{desc: "symlink inside volume", path: filepath.Join(vol, "in"), untrusted: []string{vol}, want: filepath.Join(vol, "dir")},
		{desc: "absolute symlink back inside volume", path: filepath.Join(vol, "abs-in"), untrusted: []string{vol}, want: filepath.Join(vol, "dir")},
		{desc: "host symlink", path: filepath.Join(base, "host"), untrusted: []string{vol}, want: filepath.Join(vol, "dir")},
		{desc: "volume symlink to /", path: filepath.Join(vol, "root"), untrusted: []string{vol}, wantErr: errdefs.ErrInvalidArgument},
		{desc: "volume symlink climbing out", path: filepath.Join(vol, "out"), untrusted: []string{vol}, wantErr: errdefs.ErrInvalidArgument},
		{desc: "volume symlink to / below path", path: filepath.Join(vol, "root", "etc"), untrusted: []string{vol}, wantErr: errdefs.ErrInvalidArgument},
		{desc: "trusted when no volume", path: filepath.Join(vol, "out"), want: outside},
		{desc: "symlink loop", path: filepath.Join(vol, "loop1"), wantErr: errdefs.ErrInvalidArgument},
		{desc: "dotdot after a volume symlink climbs out", path: vol + "/in/../../outside", untrusted: []string{vol}, wantErr: errdefs.ErrInvalidArgument},
		{desc: "missing", path: filepath.Join(vol, "nope"), wantErr: os.ErrNotExist},
		{desc: "relative", path: "vol", wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ResolveHostPath(tc.path, tc.untrusted)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ResolveHostPath(%s) = %q, %v; want %v", tc.path, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ResolveHostPath(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
			}
		})
	}
}

// TestResolveOrCreateHostPath: missing components are created as 0755
// directories whatever the umask, through host symlinks, but never through
// a symlink of an untrusted volume that leads out of it.
func TestResolveOrCreateHostPath(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	vol, outside := filepath.Join(base, "vol"), filepath.Join(base, "outside")
	for _, d := range []string{vol, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for l, target := range map[string]string{
		filepath.Join(vol, "out"):      "../outside",
		filepath.Join(base, "host"):    "outside",
		filepath.Join(base, "dangles"): "outside/made-by-link",
		filepath.Join(vol, "file"):     "",
	} {
		if target == "" {
			if err := os.WriteFile(l, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Symlink(target, l); err != nil {
			t.Fatal(err)
		}
	}
	defer unix.Umask(unix.Umask(0o077))
	tests := []struct {
		desc, path string
		want       string
		wantErr    error
		notMade    string // must not exist afterwards
	}{
		{desc: "missing chain", path: filepath.Join(base, "a", "b", "c"), want: filepath.Join(base, "a", "b", "c")},
		{desc: "existing", path: vol, want: vol},
		{desc: "through a host symlink", path: filepath.Join(base, "host", "d"), want: filepath.Join(outside, "d")},
		{desc: "dangling host symlink", path: filepath.Join(base, "dangles"), want: filepath.Join(outside, "made-by-link")},
		{desc: "in a volume", path: filepath.Join(vol, "new", "sub"), want: filepath.Join(vol, "new", "sub")},
		{desc: "through a volume symlink leading out", path: filepath.Join(vol, "out", "evil"), wantErr: errdefs.ErrInvalidArgument, notMade: filepath.Join(outside, "evil")},
		{desc: "below a file", path: filepath.Join(vol, "file", "x"), wantErr: unix.ENOTDIR},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ResolveOrCreateHostPath(tc.path, []string{vol})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ResolveOrCreateHostPath(%s) = %q, %v; want %v", tc.path, got, err, tc.wantErr)
				}
				if _, err := os.Lstat(tc.notMade); tc.notMade != "" && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was created (%v)", tc.notMade, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ResolveOrCreateHostPath(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
			}
			fi, err := os.Lstat(got)
			if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 && got != vol {
				t.Fatalf("%s: %v, %v; want a 0755 directory", got, fi.Mode(), err)
			}
		})
	}
}

// TestBindNoFollow: a bind from a resolved path lands on what was resolved;
// once a component is swapped for a symlink it fails instead.
func TestBindNoFollow(t *testing.T) {
	testutil.RequireRoot(t)
	base := t.TempDir()
	src, outside, target := filepath.Join(base, "vol", "sub"), filepath.Join(base, "outside"), filepath.Join(base, "pins", "0")
	for _, d := range []string{src, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "inside"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := BindNoFollow(src, target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "inside")); err != nil {
		t.Errorf("pinned mount does not show the source: %v", err)
	}
	if err := Unbind(target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("mount point left: %v", err)
	}
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, src); err != nil {
		t.Fatal(err)
	}
	err := BindNoFollow(src, target)
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("bind through a swapped-in symlink: %v", err)
	}
	if err == nil {
		_ = Unbind(target)
	}
}

// TestUnbindKeepsSourceSubmounts: on a host whose mounts are shared (every
// systemd host: / is shared), the pin's recursive bind copies the source's
// submounts into their peer groups, and detaching the pin then unmounted
// the originals on the host too: critest's recursive read-only mount specs
// found their tmpfs gone in test/vm, and a hostPath volume of /sys or /run
// would strip the node of its mounts. Unbind must leave the source's
// submounts alone. Runs in a mount namespace of its own, on a shared bind
// of a temp dir, as on a systemd host.
func TestUnbindKeepsSourceSubmounts(t *testing.T) {
	testutil.RequireRoot(t)
	base := t.TempDir()
	src, sub, target := filepath.Join(base, "vol"), filepath.Join(base, "vol", "tmpfs"), filepath.Join(base, "pins", "0")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread leaves its mount namespace only by dying: never unlocked.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make / private: %w", err)
			}
			if err := unix.Mount(base, base, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind %s: %w", base, err)
			}
			if err := unix.Mount("", base, "", unix.MS_SHARED, ""); err != nil {
				return fmt.Errorf("make %s shared: %w", base, err)
			}
			if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("mount tmpfs on %s: %w", sub, err)
			}
			if err := BindNoFollow(src, target); err != nil {
				return err
			}
			if err := Unbind(target); err != nil {
				return err
			}
			if !mountedAt(sub) {
				return fmt.Errorf("unbinding the pin %s unmounted the source's submount %s", target, sub)
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// mountedAt reports whether a mount sits on path in this thread's mount
// namespace.
func mountedAt(path string) bool {
	data, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
