package imagebuild

import (
	"archive/tar"
	"bytes"
	"reflect"
	"testing"
)

func TestLayerBuilderAddsParentsAndKeepsOrder(t *testing.T) {
	lb := NewLayer().
		File("/a/b/c.txt", []byte("x"), 0o644, 0, 0).
		Dir("/a", 0o700, 1, 1).
		HardLink("/a/b/d.txt", "/a/b/c.txt").
		Symlink("/a/e", "b/c.txt").
		Whiteout("/gone/file")
	want := []string{"/a", "/a/b", "/a/b/c.txt", "/a/b/d.txt", "/a/e", "/gone", "/gone/.wh.file"}
	if got := lb.Paths(); !reflect.DeepEqual(got, want) {
		t.Fatalf("paths = %v, want %v", got, want)
	}
	data, err := lb.Tar()
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var order []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		order = append(order, h.Name)
		if h.Name == "a/" && (h.Mode != 0o700 || h.Uid != 1) {
			t.Errorf("explicit Dir did not replace the implicit parent: mode %o uid %d", h.Mode, h.Uid)
		}
		if h.Name == "a/b/d.txt" && (h.Typeflag != tar.TypeLink || h.Linkname != "a/b/c.txt") {
			t.Errorf("hard link = %c -> %q", h.Typeflag, h.Linkname)
		}
		if !h.ModTime.Equal(Epoch) {
			t.Errorf("%s mtime %v, want %v", h.Name, h.ModTime, Epoch)
		}
	}
	if order[0] != "a/" || order[1] != "a/b/" || order[2] != "a/b/c.txt" {
		t.Errorf("parents must precede children, got %v", order)
	}
}

func TestLayerBuilderIsDeterministic(t *testing.T) {
	mk := func() string {
		l, err := NewLayer().File("/etc/x", []byte("same"), 0o644, 0, 0).Layer()
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if a, b := mk(), mk(); a != b {
		t.Fatalf("two identical layers have digests %s and %s", a, b)
	}
}
