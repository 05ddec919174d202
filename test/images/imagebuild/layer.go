package imagebuild

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Epoch is the fixed time stamped on every file, history entry and config,
// so that a rebuild on any machine with the same inputs yields the same digests.
var Epoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// LayerBuilder collects the entries of one filesystem layer. Paths are
// absolute inside the image ("/bin/sh"); missing parent directories are added
// as root-owned 0755 directories. Entries are written in insertion order.
type LayerBuilder struct {
	entries []layerEntry
	seen    map[string]bool
}

type layerEntry struct {
	hdr  tar.Header
	data []byte
}

// NewLayer returns an empty LayerBuilder.
func NewLayer() *LayerBuilder {
	return &LayerBuilder{seen: map[string]bool{}}
}

// Dir adds a directory with the given mode and owner.
func (l *LayerBuilder) Dir(p string, mode int64, uid, gid int) *LayerBuilder {
	return l.add(tar.Header{Typeflag: tar.TypeDir, Name: tarName(p) + "/", Mode: mode, Uid: uid, Gid: gid}, nil)
}

// File adds a regular file with the given content, mode and owner. Mode may
// carry the setuid bit (04000) and setgid bit (02000).
func (l *LayerBuilder) File(p string, data []byte, mode int64, uid, gid int) *LayerBuilder {
	return l.add(tar.Header{Typeflag: tar.TypeReg, Name: tarName(p), Mode: mode, Uid: uid, Gid: gid, Size: int64(len(data))}, data)
}

// HardLink adds p as a hard link to target, which must already be in the layer.
func (l *LayerBuilder) HardLink(p, target string) *LayerBuilder {
	return l.add(tar.Header{Typeflag: tar.TypeLink, Name: tarName(p), Linkname: tarName(target), Mode: 0o755}, nil)
}

// Symlink adds p as a symbolic link pointing at target (used verbatim).
func (l *LayerBuilder) Symlink(p, target string) *LayerBuilder {
	return l.add(tar.Header{Typeflag: tar.TypeSymlink, Name: tarName(p), Linkname: target, Mode: 0o777}, nil)
}

// Whiteout adds an OCI whiteout entry that deletes p from the layers below.
func (l *LayerBuilder) Whiteout(p string) *LayerBuilder {
	dir, base := path.Split(tarName(p))
	return l.add(tar.Header{Typeflag: tar.TypeReg, Name: dir + ".wh." + base, Mode: 0o644}, nil)
}

func (l *LayerBuilder) add(hdr tar.Header, data []byte) *LayerBuilder {
	hdr.ModTime = Epoch
	hdr.Format = tar.FormatPAX
	name := strings.TrimSuffix(hdr.Name, "/")
	l.parents(path.Dir(name))
	if hdr.Typeflag == tar.TypeDir && l.seen[name] {
		for i := range l.entries {
			if strings.TrimSuffix(l.entries[i].hdr.Name, "/") == name {
				l.entries[i].hdr = hdr
			}
		}
		return l
	}
	l.seen[name] = true
	l.entries = append(l.entries, layerEntry{hdr: hdr, data: data})
	return l
}

func (l *LayerBuilder) parents(dir string) {
	if dir == "." || dir == "" || l.seen[dir] {
		return
	}
	l.parents(path.Dir(dir))
	l.seen[dir] = true
	l.entries = append(l.entries, layerEntry{hdr: tar.Header{
		Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: Epoch, Format: tar.FormatPAX,
	}})
}

// Paths lists the paths in the layer, sorted, for tests and listings.
func (l *LayerBuilder) Paths() []string {
	out := make([]string, 0, len(l.entries))
	for _, e := range l.entries {
		out = append(out, "/"+strings.TrimSuffix(e.hdr.Name, "/"))
	}
	sort.Strings(out)
	return out
}

// Tar returns the uncompressed tar stream of the layer.
func (l *LayerBuilder) Tar() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range l.entries {
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, fmt.Errorf("write tar header %s: %w", hdr.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("write tar entry %s: %w", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Layer returns the layer as a gzip-compressed v1.Layer whose compressed
// form is computed once and cached.
func (l *LayerBuilder) Layer() (v1.Layer, error) {
	data, err := l.Tar()
	if err != nil {
		return nil, err
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	layer, err := tarball.LayerFromOpener(opener, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	return layer, nil
}

func tarName(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}
