package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The kinds of image tar archives.
type archiveType int

const (
	archiveDocker archiveType = iota // manifest.json (docker save, docker-archive)
	archiveOCI                       // oci-layout and index.json (an OCI archive; docker save since 25 too)
)

// layoutFile matches the files of an OCI image layout that Import reads.
var layoutFile = regexp.MustCompile(`^(oci-layout|index\.json|blobs/sha256/[a-f0-9]{64}|blobs/sha512/[a-f0-9]{128})$`)

// plainTar returns the path of the uncompressed tar of file: file itself,
// or, when file is gzip-compressed, its contents unpacked below scratch.
func plainTar(file, scratch string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read archive: %w", err)
	}
	if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return file, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return "", invalid("archive: %v", err)
	}
	out := filepath.Join(scratch, "archive.tar")
	w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", out, err)
	}
	defer w.Close()
	if _, err := io.Copy(w, zr); err != nil {
		return "", invalid("decompress archive: %v", err)
	}
	return out, w.Close()
}

// tarEntryName is the clean relative name of a tar entry ("./a/../b" is
// "b"); a name that climbs out of the archive comes out empty.
func tarEntryName(n string) string {
	c := path.Clean("/" + n)
	if c == "/" {
		return ""
	}
	return strings.TrimPrefix(c, "/")
}

// archiveKind tells an OCI archive from a docker archive by the files at
// its top; an archive with both (docker save since Docker 25) is read as
// the OCI layout, which keeps the manifests' digests.
func archiveKind(file string) (archiveType, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, invalid("archive is not a tar: %v", err)
		}
		seen[tarEntryName(hdr.Name)] = true
	}
	switch {
	case seen["oci-layout"] && seen["index.json"]:
		return archiveOCI, nil
	case seen["manifest.json"]:
		return archiveDocker, nil
	}
	return 0, invalid("archive is neither an OCI archive (oci-layout, index.json) nor a docker archive (manifest.json)")
}

// extractLayout writes the OCI layout files of the tar file into dir;
// only regular files named as a layout names them are taken, so nothing
// can land outside dir.
func extractLayout(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return invalid("read archive: %v", err)
		}
		n := tarEntryName(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || !layoutFile.MatchString(n) {
			continue
		}
		if err := extractFile(tr, filepath.Join(dir, filepath.FromSlash(n))); err != nil {
			return err
		}
	}
}

func extractFile(r io.Reader, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
	}
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return w.Close()
}

// readDockerArchive lists the images of a docker archive: each entry of
// its manifest.json, named by its RepoTags. Their layers are the archive's
// uncompressed tars, stored as they are (no gzip run on import); the
// manifest recorded for each is made when its layers are in.
func readDockerArchive(file string) ([]importSource, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, invalid("docker archive manifest.json: %v", err)
	}
	var out []importSource
	for i, d := range m {
		var tag *name.Tag
		var names []Reference
		for _, t := range d.RepoTags {
			r, err := ParseReference(t)
			if err != nil {
				return nil, fmt.Errorf("docker archive image %d: %w", i, err)
			}
			names = append(names, r)
		}
		switch {
		case len(d.RepoTags) > 0:
			t, err := name.NewTag(d.RepoTags[0])
			if err != nil {
				return nil, invalid("docker archive image %d: tag %q: %v", i, d.RepoTags[0], err)
			}
			tag = &t
		case len(m) > 1:
			return nil, invalid("docker archive image %d (%s) has no tag: only the single image of an archive can be untagged", i, d.Config)
		}
		src, err := dockerImage(opener, tag, names)
		if err != nil {
			return nil, fmt.Errorf("docker archive image %d: %w", i, err)
		}
		out = append(out, src)
	}
	return out, nil
}

// dockerImage reads the config of the archive's image tag (nil: the only
// one) and prepares its manifest: uncompressed layers, blob digests equal
// to the diff IDs, sizes filled in when the blobs are stored.
func dockerImage(opener tarball.Opener, tag *name.Tag, names []Reference) (importSource, error) {
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return importSource{}, invalid("%v", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return importSource{}, fmt.Errorf("read config: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return importSource{}, invalid("parse config: %v", err)
	}
	m := Manifest{SchemaVersion: 2, MediaType: MediaTypeOCIManifest,
		Config: Descriptor{MediaType: MediaTypeOCIConfig, Digest: Digest(config), Size: int64(len(config))}}
	for _, diffID := range cf.RootFS.DiffIDs {
		m.Layers = append(m.Layers, Descriptor{MediaType: MediaTypeOCILayer, Digest: diffID.String()})
	}
	open := func(_ context.Context, l Descriptor) (io.ReadCloser, error) {
		h, err := v1.NewHash(l.Digest)
		if err != nil {
			return nil, invalid("digest %q: %v", l.Digest, err)
		}
		layer, err := img.LayerByDiffID(h)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		rc, err := layer.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("open layer %s: %w", l.Digest, err)
		}
		return rc, nil
	}
	return importSource{names: names, ms: manifestSet{manifest: m, raw: map[string][]byte{}}, config: config,
		open: open, docker: true}, nil
}
