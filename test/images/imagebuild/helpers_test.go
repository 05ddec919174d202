package imagebuild

import (
	"archive/tar"
	"errors"
	"io"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var (
	sharedOnce    sync.Once
	sharedBuilder *Builder
	sharedErr     error
	builtMu       sync.Mutex
	built         = map[string]Artifact{}
)

// testBuilder is one Builder for the whole package, so the stand-ins are
// compiled and the base layers compressed once.
func testBuilder(t *testing.T) *Builder {
	t.Helper()
	sharedOnce.Do(func() { sharedBuilder, sharedErr = NewBuilder(Options{}) })
	if sharedErr != nil {
		t.Fatalf("NewBuilder: %v", sharedErr)
	}
	return sharedBuilder
}

// buildSpec builds spec once per test binary.
func buildSpec(t *testing.T, spec Spec) Artifact {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if a, ok := built[spec.Ref]; ok {
		return a
	}
	a, err := testBuilder(t).Build(spec)
	if err != nil {
		t.Fatalf("build %s: %v", spec.Ref, err)
	}
	built[spec.Ref] = a
	return a
}

func mustSpec(t *testing.T, ref string) Spec {
	t.Helper()
	s, ok := Lookup(ref)
	if !ok {
		t.Fatalf("catalog has no %s", ref)
	}
	return s
}

// layerFiles reads a layer's tar headers and contents by path ("bin/ls").
func layerFiles(t *testing.T, l v1.Layer) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("uncompress layer: %v", err)
	}
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, data
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", h.Name, err)
		}
		hdrs[h.Name], data[h.Name] = h, b
	}
}

// imageFiles merges the files of all layers of img (no whiteouts are used).
func imageFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("layers: %v", err)
	}
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	for _, l := range layers {
		h, d := layerFiles(t, l)
		for k, v := range h {
			hdrs[k], data[k] = v, d[k]
		}
	}
	return hdrs, data
}

func platformImage(t *testing.T, a Artifact) v1.Image {
	t.Helper()
	img, err := a.PlatformImage()
	if err != nil {
		t.Fatalf("platform image: %v", err)
	}
	return img
}

func configOf(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cf
}
