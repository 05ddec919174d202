package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// tarFile is one entry of a test archive.
type tarFile struct {
	name string
	body []byte
	typ  byte // 0: regular file
	link string
}

func writeTar(t testing.TB, path string, files []tarFile) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(1, 0),
			Typeflag: tar.TypeReg, Linkname: f.link}
		if f.typ != 0 {
			hdr.Typeflag, hdr.Size = f.typ, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			_, _ = tw.Write(f.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// layoutFiles are the files of an OCI layout whose index.json lists
// entries, holding the blobs given.
func layoutFiles(t testing.TB, entries []Descriptor, blobs ...[]byte) []tarFile {
	t.Helper()
	idx := Index{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: entries}
	files := []tarFile{
		{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", body: mustJSON(t, idx)},
	}
	for _, b := range blobs {
		files = append(files, tarFile{name: "blobs/sha256/" + strings.TrimPrefix(Digest(b), "sha256:"), body: b})
	}
	return files
}

// imageBlobs are the config, layers and manifest of im.
func imageBlobs(im testImage) [][]byte {
	return append([][]byte{im.config, im.manifest}, im.layers...)
}

func writeDir(t testing.TB, dir string, files []tarFile) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func manifestEntry(im testImage, name string) Descriptor {
	d := Descriptor{MediaType: MediaTypeOCIManifest, Digest: im.digest(), Size: int64(len(im.manifest))}
	if name != "" {
		d.Annotations = map[string]string{annotationContainerdName: name, annotationOCIRefName: "latest"}
	}
	return d
}

func readLayerFile(t testing.TB, s *Service, im Image, file string) string {
	t.Helper()
	dir, err := s.Snapshots().LayerDir(im.TopChainID())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func amd64(o *Options) { o.Platform = Platform{OS: "linux", Architecture: "amd64"} }

func TestImportOCILayout(t *testing.T) {
	im := buildImage(t, "", layerTar(t, map[string]string{"bin/sh": "shell"}),
		layerTar(t, map[string]string{"etc/motd": "imported"}))
	files := layoutFiles(t, []Descriptor{manifestEntry(im, "example.com/app:v1")}, imageBlobs(im)...)
	work := t.TempDir()
	dir := filepath.Join(work, "layout")
	writeDir(t, dir, files)
	writeTar(t, filepath.Join(work, "oci.tar"), files)
	plain, _ := os.ReadFile(filepath.Join(work, "oci.tar"))
	if err := os.WriteFile(filepath.Join(work, "oci.tar.gz"), gzipped(t, plain), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ desc, path string }{
		{desc: "layout directory", path: dir},
		{desc: "OCI archive", path: filepath.Join(work, "oci.tar")},
		{desc: "gzip OCI archive", path: filepath.Join(work, "oci.tar.gz")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := newTestService(t, t.TempDir(), nil, amd64)
			for range 2 { // a second import of the same archive changes nothing
				got, err := s.Import(context.Background(), tc.path, ImportOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0].ID != im.id() {
					t.Fatalf("imported %+v, want one image %s", got, im.id())
				}
				if !slices.Equal(got[0].RepoTags, []string{"example.com/app:v1"}) ||
					!slices.Equal(got[0].RepoDigests, []string{"example.com/app@" + im.digest()}) {
					t.Errorf("names = %v %v", got[0].RepoTags, got[0].RepoDigests)
				}
			}
			st, err := s.Status("example.com/app:v1", "")
			if err != nil || st.ID != im.id() {
				t.Fatalf("Status = %s, %v", st.ID, err)
			}
			if got := readLayerFile(t, s, st, "etc/motd"); got != "imported" {
				t.Errorf("top layer file = %q", got)
			}
			if left, _ := os.ReadDir(s.importDir()); len(left) != 0 {
				t.Errorf("import left %d entries in %s", len(left), s.importDir())
			}
		})
	}
}

// dockerArchive writes a `docker save` archive (the legacy layout Docker
// 20.10 writes: <id>/layer.tar, <id>.json, manifest.json) of images, each
// with its tags.
func dockerArchive(t testing.TB, path string, images map[string]testImage) {
	t.Helper()
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	var files []tarFile
	keys := make([]string, 0, len(images))
	for k := range images {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, tags := range keys {
		im := images[tags]
		e := entry{Config: strings.TrimPrefix(im.id(), "sha256:") + ".json"}
		if tags != "" {
			e.RepoTags = strings.Split(tags, ",")
		}
		files = append(files, tarFile{name: e.Config, body: im.config})
		for _, gz := range im.layers {
			raw := gunzipped(t, gz)
			dir := strings.TrimPrefix(Digest(raw), "sha256:")
			files = append(files, tarFile{name: dir + "/", typ: tar.TypeDir},
				tarFile{name: dir + "/layer.tar", body: raw})
			e.Layers = append(e.Layers, dir+"/layer.tar")
		}
		manifest = append(manifest, e)
	}
	files = append(files, tarFile{name: "manifest.json", body: mustJSON(t, manifest)})
	writeTar(t, path, files)
}

func gunzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportDockerArchive(t *testing.T) {
	app := buildImage(t, "", layerTar(t, map[string]string{"bin/sh": "shell"}),
		layerTar(t, map[string]string{"etc/motd": "app"}))
	tool := buildImage(t, "", layerTar(t, map[string]string{"bin/sh": "shell"}),
		layerTar(t, map[string]string{"etc/motd": "tool"}))
	path := filepath.Join(t.TempDir(), "save.tar")
	dockerArchive(t, path, map[string]testImage{
		"busybox:latest,registry.k8s.io/app:1.0": app,
		"example.com/tool:2":                     tool,
	})
	s := newTestService(t, t.TempDir(), nil, amd64)
	got, err := s.Import(context.Background(), path, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("imported %d images, want 2", len(got))
	}
	for _, tc := range []struct{ desc, ref, id, motd string }{
		{desc: "docker hub short name", ref: "docker.io/library/busybox:latest", id: app.id(), motd: "app"},
		{desc: "second tag", ref: "registry.k8s.io/app:1.0", id: app.id(), motd: "app"},
		{desc: "second image", ref: "example.com/tool:2", id: tool.id(), motd: "tool"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			st, err := s.Status(tc.ref, "")
			if err != nil || st.ID != tc.id {
				t.Fatalf("Status(%s) = %s, %v; want %s", tc.ref, st.ID, err, tc.id)
			}
			if got := readLayerFile(t, s, st, "etc/motd"); got != tc.motd {
				t.Errorf("etc/motd = %q, want %q", got, tc.motd)
			}
			if len(st.Layers) != 2 || st.Layers[0] != app.diffIDs[0] {
				t.Errorf("layers = %v: want the uncompressed tars, stored as they are", st.Layers)
			}
		})
	}
	// The shared base layer is stored once.
	if n := len(s.Snapshots().Layers()); n != 3 {
		t.Errorf("%d layers unpacked, want 3", n)
	}
}

// platformImage is an image whose config names platform arch.
func platformImage(t testing.TB, arch, motd string) testImage {
	t.Helper()
	im := buildImage(t, "", layerTar(t, map[string]string{"etc/motd": motd}))
	cfg := map[string]any{"architecture": arch, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": im.diffIDs}}
	im.config = mustJSON(t, cfg)
	var m Manifest
	if err := strictUnmarshal(im.manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Config.Digest, m.Config.Size = Digest(im.config), int64(len(im.config))
	im.manifest = mustJSON(t, m)
	return im
}

func TestImportPlatforms(t *testing.T) {
	amd, arm := platformImage(t, "amd64", "amd64"), platformImage(t, "arm64", "arm64")
	idx := mustJSON(t, Index{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{
		{MediaType: MediaTypeOCIManifest, Digest: amd.digest(), Size: int64(len(amd.manifest)),
			Platform: &Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: MediaTypeOCIManifest, Digest: arm.digest(), Size: int64(len(arm.manifest)),
			Platform: &Platform{OS: "linux", Architecture: "arm64"}},
	}})
	top := Descriptor{MediaType: MediaTypeOCIIndex, Digest: Digest(idx), Size: int64(len(idx)),
		Annotations: map[string]string{annotationOCIRefName: "example.com/multi:1"}}
	multi := filepath.Join(t.TempDir(), "multi.tar")
	writeTar(t, multi, layoutFiles(t, []Descriptor{top}, append(append(imageBlobs(amd), imageBlobs(arm)...), idx)...))
	single := filepath.Join(t.TempDir(), "arm.tar")
	writeTar(t, single, layoutFiles(t, []Descriptor{manifestEntry(arm, "example.com/arm:1")}, imageBlobs(arm)...))
	const name = "example.com/multi:1"

	for _, tc := range []struct {
		desc string
		path string
		opts ImportOptions
		// want is platform -> motd of the image name has there.
		want map[string]string
	}{
		{desc: "default platform", path: multi, want: map[string]string{"": "amd64", "linux/arm64": ""}},
		{desc: "another platform", path: multi, opts: ImportOptions{Platform: "linux/arm64"},
			want: map[string]string{"": "", "linux/arm64": "arm64"}},
		{desc: "all platforms", path: multi, opts: ImportOptions{AllPlatforms: true},
			want: map[string]string{"": "amd64", "linux/arm64": "arm64"}},
		{desc: "single image of its platform", path: single, opts: ImportOptions{Platform: "linux/arm64"},
			want: map[string]string{"": "", "linux/arm64": "arm64"}},
		{desc: "single image, all platforms", path: single, opts: ImportOptions{AllPlatforms: true},
			want: map[string]string{"": "", "linux/arm64": "arm64"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := newTestService(t, t.TempDir(), nil, amd64)
			if _, err := s.Import(context.Background(), tc.path, tc.opts); err != nil {
				t.Fatal(err)
			}
			for pl, motd := range tc.want {
				ref := name
				if tc.path == single {
					ref = "example.com/arm:1"
				}
				st, err := s.Status(ref, pl)
				switch {
				case motd == "" && !errdefs.IsNotFound(err):
					t.Errorf("Status(%s, %q) = %s, %v; want not found", ref, pl, st.ID, err)
				case motd != "" && err != nil:
					t.Errorf("Status(%s, %q): %v", ref, pl, err)
				case motd != "":
					if got := readLayerFile(t, s, st, "etc/motd"); got != motd {
						t.Errorf("%q image has %q, want %q", pl, got, motd)
					}
					if tc.path == multi && !slices.Contains(st.RepoDigests, "example.com/multi@"+Digest(idx)) {
						t.Errorf("repo digests %v lack the index digest", st.RepoDigests)
					}
				}
			}
		})
	}
}

func TestImportRefuses(t *testing.T) {
	im := buildImage(t, "", layerTar(t, map[string]string{"etc/motd": "x"}))
	arm := platformImage(t, "arm64", "arm64")
	dir := t.TempDir()
	at := func(n string) string { return filepath.Join(dir, n) }
	if err := os.WriteFile(at("text"), []byte("not an archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTar(t, at("plain.tar"), []tarFile{{name: "etc/passwd", body: []byte("root")}})
	writeTar(t, at("arm.tar"), layoutFiles(t, []Descriptor{manifestEntry(arm, "example.com/arm:1")}, imageBlobs(arm)...))
	bad := im
	bad.layers = [][]byte{gzipped(t, layerTar(t, map[string]string{"etc/motd": "tampered"}))}
	files := layoutFiles(t, []Descriptor{manifestEntry(im, "example.com/bad:1")}, im.config, im.manifest)
	files = append(files, tarFile{name: "blobs/sha256/" + strings.TrimPrefix(Digest(im.layers[0]), "sha256:"), body: bad.layers[0]},
		tarFile{name: "../escape", body: []byte("x")}, tarFile{name: "blobs/sha256/../../../escape2", body: []byte("x")})
	writeTar(t, at("tampered.tar"), files)
	dockerArchive(t, at("untagged.tar"), map[string]testImage{"": im, "example.com/other:1": arm})

	for _, tc := range []struct {
		desc, path string
		want       string
	}{
		{desc: "missing file", path: at("none"), want: "no such file"},
		{desc: "not a tar", path: at("text"), want: "not a tar"},
		{desc: "tar of no image", path: at("plain.tar"), want: "neither an OCI archive"},
		{desc: "image of another platform", path: at("arm.tar"), want: "is for linux/arm64, not linux/amd64"},
		{desc: "layer not matching its digest", path: at("tampered.tar"), want: "blob " + Digest(im.layers[0])},
		{desc: "untagged image among others", path: at("untagged.tar"), want: "has no tag"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			root := t.TempDir()
			s := newTestService(t, root, nil, amd64)
			got, err := s.Import(context.Background(), tc.path, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import = %v, %v; want an error with %q", got, err, tc.want)
			}
			if tc.want != "no such file" && !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %v is not InvalidArgument", err)
			}
			if n := len(s.List("", "")); n != 0 {
				t.Errorf("%d images recorded after a failed import", n)
			}
			if d, _ := s.content.Digests(); len(d) != 0 {
				t.Errorf("blobs left after a failed import: %v", d)
			}
			if n := len(s.Snapshots().Layers()); n != 0 {
				t.Errorf("%d layers left after a failed import", n)
			}
			for _, p := range []string{filepath.Join(root, "escape"), filepath.Join(root, "images", "escape"), filepath.Join(root, "images", "escape2")} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("archive entry escaped to %s", p)
				}
			}
		})
	}
}

func TestImportReader(t *testing.T) {
	im := buildImage(t, "", layerTar(t, map[string]string{"etc/motd": "streamed"}))
	path := filepath.Join(t.TempDir(), "save.tar")
	dockerArchive(t, path, map[string]testImage{"example.com/streamed:1": im})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newTestService(t, t.TempDir(), nil, amd64)
	got, err := s.ImportReader(context.Background(), f, ImportOptions{})
	if err != nil || len(got) != 1 || got[0].ID != im.id() {
		t.Fatalf("ImportReader = %v, %v", got, err)
	}
	if left, _ := os.ReadDir(s.importDir()); len(left) != 0 {
		t.Errorf("import left %d entries in %s", len(left), s.importDir())
	}
}
