package checkpoint

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(map[string]string{"tcp-established": "true"})
	if err != nil || !o.TCPEstablished {
		t.Fatalf("ParseOptions = %+v, %v", o, err)
	}
	if o, err := ParseOptions(nil); err != nil || o.TCPEstablished {
		t.Fatalf("ParseOptions(nil) = %+v, %v", o, err)
	}
	for _, m := range []map[string]string{{"tcp-established": "maybe"}, {"leave-running": "true"}} {
		if _, err := ParseOptions(m); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseOptions(%v) = %v, want InvalidArgument", m, err)
		}
	}
}

func TestCheckLocation(t *testing.T) {
	for _, p := range []string{"", "rel.tar", "/", "/a/../b.tar", "/a/b/", "/a//b.tar"} {
		if err := CheckLocation(p); !errdefs.IsInvalidArgument(err) {
			t.Errorf("CheckLocation(%q) = %v, want InvalidArgument", p, err)
		}
	}
	if err := CheckLocation("/var/lib/kubelet/checkpoints/c.tar"); err != nil {
		t.Error(err)
	}
}

func tarNames(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = string(data)
		if h.Typeflag == tar.TypeSymlink {
			out[h.Name] = "-> " + h.Linkname
		}
	}
}

func TestWriteRootfsDiff(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make overlay whiteouts (0:0 character devices)")
	}
	upper := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(upper, "var/log"), 0o755))
	must(t, os.WriteFile(filepath.Join(upper, "var/log/count"), []byte("1\n2\n"), 0o644))
	must(t, os.Symlink("/etc/hostname", filepath.Join(upper, "link")))
	must(t, unix.Mknod(filepath.Join(upper, "var/gone"), unix.S_IFCHR, 0))
	var buf bytes.Buffer
	deleted, err := WriteRootfsDiff(upper, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || deleted[0] != "/var/gone" {
		t.Fatalf("deleted = %v, want [/var/gone]", deleted)
	}
	got := tarNames(t, &buf)
	want := map[string]string{"var/": "", "var/log/": "", "var/log/count": "1\n2\n", "link": "-> /etc/hostname"}
	if len(got) != len(want) {
		t.Fatalf("diff = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("diff[%s] = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteArchive(t *testing.T) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "checkpoint"), 0o700))
	must(t, os.WriteFile(filepath.Join(src, "checkpoint/pages-1.img"), []byte("memory"), 0o600))
	must(t, WriteConfigDump(src, configFor("c1")))
	out := t.TempDir()
	loc := filepath.Join(out, "c.tar")
	// A symlink at the location is replaced, not followed.
	victim := filepath.Join(t.TempDir(), "victim")
	must(t, os.WriteFile(victim, []byte("keep"), 0o644))
	must(t, os.Symlink(victim, loc))
	must(t, WriteArchive(src, loc))
	if data, _ := os.ReadFile(victim); string(data) != "keep" {
		t.Fatalf("the symlink's target was written: %q", data)
	}
	fi, err := os.Lstat(loc)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive %v, %v: want a regular file 0600", fi, err)
	}
	f, err := os.Open(loc)
	must(t, err)
	defer f.Close()
	var names []string
	for n := range tarNames(t, f) {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"checkpoint/", "checkpoint/pages-1.img", "config.dump"}; !equal(names, want) {
		t.Fatalf("archive holds %v, want %v", names, want)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Fatalf("output dir holds %d entries, want only the archive", len(entries))
	}
}

func TestWriteArchiveRefusesSymlinkedParent(t *testing.T) {
	src := t.TempDir()
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	must(t, os.Symlink(real, link))
	if err := WriteArchive(src, filepath.Join(link, "c.tar")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("WriteArchive through a symlinked dir = %v, want InvalidArgument", err)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Fatalf("wrote %d entries through the symlink", len(entries))
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

func configFor(id string) metadata.ContainerConfig {
	return metadata.ContainerConfig{ID: id, Name: "counter"}
}

func TestCheckOutputDir(t *testing.T) {
	empty := t.TempDir()
	if err := CheckOutputDir(empty); err != nil {
		t.Fatalf("empty dir: %v", err)
	}
	full := t.TempDir()
	must(t, os.WriteFile(filepath.Join(full, "x"), nil, 0o600))
	link := filepath.Join(t.TempDir(), "link")
	must(t, os.Symlink(empty, link))
	file := filepath.Join(full, "x")
	for _, p := range []string{full, link, file, filepath.Join(empty, "missing"), "relative"} {
		if err := CheckOutputDir(p); !errdefs.IsInvalidArgument(err) {
			t.Errorf("CheckOutputDir(%q) = %v, want InvalidArgument", p, err)
		}
	}
}
