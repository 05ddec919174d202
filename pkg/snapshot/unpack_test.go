package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// entry is one tar member of a test layer.
type entry struct {
	name, link, body string
	typ              byte
	mode             int64
}

func file(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeLink, mode: 0o644}
}

var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// tarOf builds an uncompressed tar stream of entries.
func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Size: int64(len(e.body)), ModTime: testTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var rootless = UnpackOptions{Rootless: os.Geteuid() != 0}

func TestUnpackBasic(t *testing.T) {
	root := t.TempDir()
	layer := tarOf(t, dir("etc"), file("etc/passwd", "root:x:0:0"), symlink("etc/link", "passwd"),
		hardlink("etc/hard", "etc/passwd"), file("/abs/file", "abs"))
	n, err := Unpack(context.Background(), root, bytes.NewReader(layer), rootless)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len("root:x:0:0")+len("abs")) {
		t.Errorf("size = %d", n)
	}
	for _, tc := range []struct{ desc, path, want string }{
		{desc: "file", path: "etc/passwd", want: "root:x:0:0"},
		{desc: "through symlink", path: "etc/link", want: "root:x:0:0"},
		{desc: "hard link", path: "etc/hard", want: "root:x:0:0"},
		{desc: "absolute made relative", path: "abs/file", want: "abs"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(root, tc.path))
			if err != nil || string(got) != tc.want {
				t.Fatalf("read %s = %q, %v; want %q", tc.path, got, err, tc.want)
			}
		})
	}
	fi, err := os.Lstat(filepath.Join(root, "etc"))
	if err != nil || !fi.ModTime().Equal(testTime) {
		t.Errorf("etc mtime = %v, %v; want %v", fi.ModTime(), err, testTime)
	}
	a, _ := os.Stat(filepath.Join(root, "etc/passwd"))
	b, _ := os.Stat(filepath.Join(root, "etc/hard"))
	if !os.SameFile(a, b) {
		t.Error("hard link is not the same file")
	}
}

// snapshotTree lists every path under dir with its content, for comparing
// a directory before and after a hostile unpack.
func snapshotTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		s := rel + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			s += " " + string(b)
		}
		out = append(out, s)
		return nil
	})
	sort.Strings(out)
	return out
}

func TestUnpackHostile(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		entries func(outside string) []entry
		wantErr bool
	}{
		{desc: "dotdot file", wantErr: true, entries: func(string) []entry {
			return []entry{file("../evil", "x")}
		}},
		{desc: "dotdot deep", wantErr: true, entries: func(string) []entry {
			return []entry{file("a/../../evil", "x")}
		}},
		{desc: "absolute path to outside", entries: func(o string) []entry {
			return []entry{file(filepath.Join(o, "secret"), "pwned")}
		}},
		{desc: "relative symlink escape then write", entries: func(string) []entry {
			return []entry{symlink("link", "../../../../../../"), file("link/evil", "x")}
		}},
		{desc: "absolute symlink escape then write", entries: func(o string) []entry {
			return []entry{symlink("link", o), file("link/secret", "pwned")}
		}},
		{desc: "symlink chain escape", entries: func(o string) []entry {
			return []entry{symlink("a", "b"), symlink("b", "c/../.."), dir("c"), file("a/"+filepath.Base(o)+"/secret", "pwned")}
		}},
		{desc: "symlink dir escape then mkdir and write", entries: func(o string) []entry {
			return []entry{symlink("link", o), dir("link/sub"), file("link/sub/f", "x")}
		}},
		{desc: "write over symlink to outside file", entries: func(o string) []entry {
			return []entry{symlink("f", filepath.Join(o, "secret")), file("f", "pwned")}
		}},
		{desc: "hardlink dotdot", wantErr: true, entries: func(string) []entry {
			return []entry{hardlink("h", "../outside/secret")}
		}},
		{desc: "hardlink through escaping symlink", wantErr: true, entries: func(o string) []entry {
			return []entry{symlink("link", o), hardlink("h", "link/secret")}
		}},
		{desc: "hardlink absolute outside", wantErr: true, entries: func(o string) []entry {
			return []entry{hardlink("h", filepath.Join(o, "secret"))}
		}},
		{desc: "hardlink to symlink pointing out then write", entries: func(o string) []entry {
			return []entry{symlink("s", filepath.Join(o, "secret")), hardlink("h", "s"), file("h", "pwned")}
		}},
		{desc: "whiteout dotdot", wantErr: true, entries: func(string) []entry {
			return []entry{file(".wh...", "")}
		}},
		{desc: "whiteout through escaping symlink", entries: func(o string) []entry {
			return []entry{symlink("link", o), file("link/.wh.secret", "")}
		}},
		{desc: "opaque through escaping symlink", entries: func(o string) []entry {
			return []entry{symlink("link", o), file("link/.wh..wh..opq", "")}
		}},
		{desc: "unsupported entry type", wantErr: true, entries: func(string) []entry {
			return []entry{{name: "x", typ: 'Z'}}
		}},
		{desc: "file replacing root", wantErr: true, entries: func(string) []entry {
			return []entry{file(".", "x")}
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			root := filepath.Join(base, "root")
			for _, d := range []string{outside, root} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("safe"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshotTree(t, outside)
			layer := tarOf(t, tc.entries(outside)...)
			_, err := Unpack(context.Background(), root, bytes.NewReader(layer), rootless)
			if tc.wantErr && !errdefs.IsInvalidArgument(err) {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
			if !tc.wantErr && err != nil {
				t.Errorf("err = %v", err)
			}
			if after := snapshotTree(t, outside); !equal(before, after) {
				t.Errorf("outside changed:\nbefore %q\nafter  %q", before, after)
			}
			entries, _ := os.ReadDir(base)
			if len(entries) != 2 {
				t.Errorf("base dir has %d entries, want 2", len(entries))
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecompress(t *testing.T) {
	layer := tarOf(t, file("f", "hello"))
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write(layer)
	_ = gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	_, _ = zw.Write(layer)
	_ = zw.Close()
	for _, tc := range []struct {
		desc string
		in   []byte
	}{
		{desc: "uncompressed", in: layer},
		{desc: "gzip", in: gz.Bytes()},
		{desc: "zstd", in: zs.Bytes()},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := Decompress(bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, layer) {
				t.Fatalf("decompressed %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestUnpackWhiteoutsRootless(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("covered by the root test")
	}
	root := t.TempDir()
	layer := tarOf(t, dir("d"), file("d/.wh..wh..opq", ""), file(".wh.gone", ""), file(".wh..wh.plnk", ""))
	if _, err := Unpack(context.Background(), root, bytes.NewReader(layer), rootless); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, ".wh.gone")); err == nil {
		t.Error("whiteout entry written as a file")
	}
}

// FuzzUnpack feeds arbitrary (possibly compressed) layers to the unpacker
// and checks that nothing appears outside the target dir, and that a file
// next to it is neither changed nor hard-linked into the layer.
func FuzzUnpack(f *testing.F) {
	f.Add(tarOf(f, dir("etc"), file("etc/passwd", "root"), symlink("l", "/etc"), hardlink("h", "etc/passwd")))
	f.Add(tarOf(f, symlink("link", "../.."), file("link/evil", "x")))
	f.Add(tarOf(f, file(".wh..wh..opq", ""), file("a/.wh.b", "")))
	f.Add(tarOf(f, symlink("o", "../outside"), file("o/secret", "pwned"), hardlink("h", "../outside/secret"), hardlink("h2", "o/secret")))
	f.Add(tarOf(f, symlink("p", "/proc/self/cwd/.."), file("p/outside/x", "x"), symlink("a", "b"), symlink("b", "a"), file("a/x", "")))
	// One dir per fuzzing process: t.TempDir in the fuzz function slows
	// coverage-guided fuzzing down a hundredfold.
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, layer []byte) {
		root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
		for _, d := range []string{root, outside} {
			if err := os.RemoveAll(d); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		secret := filepath.Join(outside, "secret")
		if err := os.WriteFile(secret, []byte("safe"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Decompress(bytes.NewReader(layer))
		if err != nil {
			return
		}
		defer r.Close()
		opts := rootless
		opts.MaxBytes = 1 << 20
		_, _ = Unpack(context.Background(), root, io.LimitReader(r, 1<<20), opts)
		if entries, _ := os.ReadDir(base); len(entries) != 2 {
			t.Fatalf("unpack wrote next to its root: %v", entries)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 1 {
			t.Fatalf("unpack wrote outside its root: %v", entries)
		}
		var st unix.Stat_t
		if err := unix.Lstat(secret, &st); err != nil || st.Nlink != 1 || st.Size != 4 {
			t.Fatalf("file outside the root was linked or changed: %+v %v", st, err)
		}
	})
}
