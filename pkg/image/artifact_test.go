package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// TestPullArtifact: an OCI artifact (empty config, layers of any media
// type) is pulled under its manifest digest, laid out as a directory of
// its layer files named by title (else by digest), survives a reopen that
// sweeps unrecorded artifact dirs, and its directory goes with its removal.
func TestPullArtifact(t *testing.T) {
	reg := newTestRegistry(t)
	cfg := []byte("{}")
	readme, data, untitled := []byte("hello artifact\n"), []byte{0, 1, 2, 3}, []byte("no title")
	for _, b := range [][]byte{cfg, readme, data, untitled} {
		reg.pushBlob("art", b)
	}
	layer := func(b []byte, mt, title string) Descriptor {
		d := Descriptor{MediaType: mt, Digest: Digest(b), Size: int64(len(b))}
		if title != "" {
			d.Annotations = map[string]string{AnnotationTitle: title}
		}
		return d
	}
	m := mustJSON(t, Manifest{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, ArtifactType: "application/vnd.cricket.test",
		Config: Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: Digest(cfg), Size: 2},
		Layers: []Descriptor{
			layer(readme, "text/plain", "README.md"),
			layer(data, "application/octet-stream", "data.bin"),
			layer(untitled, "text/plain", "../escape"),
		}})
	reg.putManifest("art", "v1", MediaTypeOCIManifest, m)
	root := t.TempDir()
	s := newTestService(t, root, reg, nil)
	ctx := context.Background()
	im, err := s.Pull(ctx, reg.host()+"/art:v1", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if im.ID != Digest(m) || !im.Artifact || len(im.ChainIDs) != 0 {
		t.Fatalf("artifact = %+v, want ID %s (its manifest digest), no layers to unpack", im, Digest(m))
	}
	dir := s.ArtifactDir(im.ID)
	for name, want := range map[string][]byte{"README.md": readme, "data.bin": data, idHex(Digest(untitled)): untitled} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("artifact dir has %d entries, want 3", len(entries))
	}
	stray := filepath.Join(filepath.Dir(dir), ".tmp-left-by-a-crash")
	if err := os.Mkdir(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	s2 := newTestService(t, root, reg, nil)
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("an unrecorded artifact dir survived a restart: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Errorf("a recorded artifact's dir was swept: %v", err)
	}
	if got, err := s2.Status(reg.host()+"/art:v1", ""); err != nil || !got.Artifact || got.ID != im.ID {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if err := s2.Remove(ctx, im.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("artifact dir left after removal: %v", err)
	}
	if _, err := s2.Status(im.ID, ""); !errdefs.IsNotFound(err) {
		t.Errorf("status after removal: %v", err)
	}
	if s2.content.Has(Digest(readme)) {
		t.Error("a layer blob of the removed artifact is left")
	}
}

// TestArtifactHoldOutlivesRemove: an image volume's hold on an artifact
// keeps its files when RemoveImage removes the artifact (the volume of a
// running container was emptied), until it is released; a hold cannot be
// taken on an artifact that is gone, and a key is a plain name.
func TestArtifactHoldOutlivesRemove(t *testing.T) {
	reg := newTestRegistry(t)
	cfg, readme := []byte("{}"), []byte("held\n")
	for _, b := range [][]byte{cfg, readme} {
		reg.pushBlob("art", b)
	}
	m := mustJSON(t, Manifest{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, ArtifactType: "application/vnd.cricket.test",
		Config: Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: Digest(cfg), Size: 2},
		Layers: []Descriptor{{MediaType: "text/plain", Digest: Digest(readme), Size: int64(len(readme)), Annotations: map[string]string{AnnotationTitle: "README.md"}}}})
	reg.putManifest("art", "v1", MediaTypeOCIManifest, m)
	root := t.TempDir()
	s := newTestService(t, root, reg, nil)
	ctx := context.Background()
	im, err := s.Pull(ctx, reg.host()+"/art:v1", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	const key = "c0ffee-iv0"
	dir, err := s.HoldArtifact(key, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dir == s.ArtifactDir(im.ID) {
		t.Fatalf("the hold is the artifact's own dir %s", dir)
	}
	if err := s.Remove(ctx, im.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "README.md")); err != nil || string(got) != string(readme) {
		t.Errorf("held file after RemoveImage = %q, %v; want %q", got, err, readme)
	}
	if _, err := s.HoldArtifact("other-iv0", im.ID); !errdefs.IsNotFound(err) {
		t.Errorf("hold of a removed artifact: %v, want not found", err)
	}
	// A restart keeps the hold: its container still mounts it.
	s2 := newTestService(t, root, reg, nil)
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Errorf("a restart swept a hold: %v", err)
	}
	for _, k := range []string{key, key} { // the second: nothing left, no error
		if err := s2.ReleaseArtifact(k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("hold left after its release: %v", err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".tmp-x"} {
		if _, err := s2.HoldArtifact(bad, im.ID); !errdefs.IsInvalidArgument(err) {
			t.Errorf("key %q: %v, want invalid argument", bad, err)
		}
	}
}
