package securefs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// layout makes root/{dir/,in -> dir, up -> .., abs -> <outside>,
// dangling -> <outside>/new} and an outside dir next to root.
func layout(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "dir"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"in": "dir", "up": "..", "abs": outside, "dangling": filepath.Join(outside, "new"), "proc": "/proc/self/cwd"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func TestOpenBeneath(t *testing.T) {
	tests := []struct {
		desc    string
		rel     string
		wantErr bool
	}{
		{desc: "plain file", rel: "dir/f.log"},
		{desc: "symlink inside", rel: "in/f.log"},
		{desc: "absolute symlink out", rel: "abs/f.log", wantErr: true},
		{desc: "dotdot symlink out", rel: "up/outside/f.log", wantErr: true},
		{desc: "dangling final symlink out", rel: "dangling", wantErr: true},
		{desc: "magic link", rel: "proc/f.log", wantErr: true},
		{desc: "dotdot component", rel: "../outside/f.log", wantErr: true},
		{desc: "absolute path", rel: "/etc/passwd", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			root, outside := layout(t)
			f, err := OpenBeneath(root, tc.rel, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND, 0o640)
			if tc.wantErr {
				if err == nil {
					f.Close()
					t.Fatalf("opened %s", tc.rel)
				}
				if !errdefs.IsInvalidArgument(err) && !os.IsNotExist(err) {
					t.Errorf("error %v is neither InvalidArgument nor NotExist", err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				f.Close()
			}
			if left, _ := os.ReadDir(outside); len(left) != 0 {
				t.Errorf("created outside root: %v", left)
			}
		})
	}
}

func TestMkdirAllBeneath(t *testing.T) {
	tests := []struct {
		desc    string
		rel     string
		want    string // dir expected to exist afterwards, relative to root
		wantErr bool
	}{
		{desc: "new tree", rel: "a/b/c", want: "a/b/c"},
		{desc: "through inner symlink", rel: "in/x", want: "dir/x"},
		{desc: "existing", rel: "dir", want: "dir"},
		{desc: "dot", rel: ".", want: "."},
		{desc: "through absolute symlink", rel: "abs/x", wantErr: true},
		{desc: "through dangling symlink", rel: "dangling/x", wantErr: true},
		{desc: "through dotdot symlink", rel: "up/outside/x", wantErr: true},
		{desc: "dotdot", rel: "../outside/x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			root, outside := layout(t)
			err := MkdirAllBeneath(root, tc.rel, 0o755)
			if tc.wantErr != (err != nil) {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.want != "" {
				if fi, err := os.Stat(filepath.Join(root, tc.want)); err != nil || !fi.IsDir() {
					t.Errorf("%s not a dir: %v", tc.want, err)
				}
			}
			if left, _ := os.ReadDir(outside); len(left) != 0 {
				t.Errorf("created outside root: %v", left)
			}
		})
	}
}

func TestOpenNoSymlinks(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	f, err := OpenNoSymlinks(real, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatalf("open of a plain dir: %v", err)
	}
	_ = f.Close()
	for _, p := range []string{filepath.Join(dir, "link"), filepath.Join(dir, "link", "x"), "relative/path", real + "/../real"} {
		if _, err := OpenNoSymlinks(p, unix.O_PATH, 0); !errdefs.IsInvalidArgument(err) {
			t.Errorf("OpenNoSymlinks(%q) = %v, want InvalidArgument", p, err)
		}
	}
}
