package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/klauspost/compress/gzip"

	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// testRegistry is go-containerregistry's in-memory registry behind a
// handler that counts requests per path and can tamper with responses.
type testRegistry struct {
	t   testing.TB
	srv *httptest.Server

	mu     sync.Mutex
	counts map[string]int
	// tamper replaces the body served for a path.
	tamper map[string][]byte
	// stall makes a path hang after its headers until the request ends.
	stall map[string]bool
	// unstall, when closed, lets stalled requests that are still waiting
	// for it proceed normally.
	unstall chan struct{}
	// wrap, when set, sees each request first; returning true means it
	// answered.
	wrap func(w http.ResponseWriter, r *http.Request) bool
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	reg := &testRegistry{t: t, counts: map[string]int{}, tamper: map[string][]byte{}, stall: map[string]bool{},
		unstall: make(chan struct{})}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.mu.Lock()
		if r.Method == http.MethodGet {
			reg.counts[r.URL.Path]++
		}
		body, tampered := reg.tamper[r.URL.Path]
		stall, wrap := reg.stall[r.URL.Path], reg.wrap
		reg.mu.Unlock()
		switch {
		case wrap != nil && wrap(w, r):
		case stall && r.Method == http.MethodGet:
			select {
			case <-r.Context().Done():
			case <-reg.unstall:
				inner.ServeHTTP(w, r)
			}
		case tampered && r.Method == http.MethodGet:
			_, _ = w.Write(body)
		default:
			inner.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(reg.srv.Close)
	return reg
}

func (r *testRegistry) host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

func (r *testRegistry) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[path]
}

func (r *testRegistry) setTamper(path string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tamper[path] = body
}

// testImage is an image built in memory.
type testImage struct {
	config    []byte
	manifest  []byte
	mediaType string
	layers    [][]byte // compressed
	diffIDs   []string
}

func (im testImage) id() string { return Digest(im.config) }

func (im testImage) digest() string { return Digest(im.manifest) }

// layerTar builds an uncompressed layer from name -> content pairs.
func layerTar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name])),
			ModTime: time.Unix(1, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(files[name]))
	}
	_ = tw.Close()
	return buf.Bytes()
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// buildImage makes an OCI image of gzip layers from uncompressed tars.
func buildImage(t testing.TB, user string, tars ...[]byte) testImage {
	t.Helper()
	im := testImage{mediaType: MediaTypeOCIManifest}
	var layerDescs []Descriptor
	for _, tb := range tars {
		gz := gzipped(t, tb)
		im.layers = append(im.layers, gz)
		im.diffIDs = append(im.diffIDs, Digest(tb))
		layerDescs = append(layerDescs, Descriptor{MediaType: MediaTypeOCILayerGzip, Digest: Digest(gz), Size: int64(len(gz))})
	}
	cfg := map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"User": user, "Cmd": []string{"/bin/sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": im.diffIDs}}
	im.config = mustJSON(t, cfg)
	m := Manifest{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Layers: layerDescs,
		Config: Descriptor{MediaType: MediaTypeOCIConfig, Digest: Digest(im.config), Size: int64(len(im.config))}}
	if layerDescs == nil {
		m.Layers = []Descriptor{}
	}
	im.manifest = mustJSON(t, m)
	return im
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// push uploads im's blobs and puts its manifest under tag.
func (r *testRegistry) push(repo, tag string, im testImage) {
	r.t.Helper()
	for _, b := range append([][]byte{im.config}, im.layers...) {
		r.pushBlob(repo, b)
	}
	r.putManifest(repo, tag, im.mediaType, im.manifest)
}

func (r *testRegistry) pushBlob(repo string, b []byte) {
	r.t.Helper()
	u := fmt.Sprintf("%s/v2/%s/blobs/uploads/?digest=%s", r.srv.URL, repo, Digest(b))
	resp, err := http.Post(u, "application/octet-stream", bytes.NewReader(b))
	if err != nil || resp.StatusCode != http.StatusCreated {
		r.t.Fatalf("push blob: %v %v", resp, err)
	}
	resp.Body.Close()
}

func (r *testRegistry) putManifest(repo, tag, mediaType string, b []byte) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", r.srv.URL, repo, tag), bytes.NewReader(b))
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		r.t.Fatalf("put manifest: %v %v", resp, err)
	}
	resp.Body.Close()
}

// writeHosts writes <dir>/<registry>/hosts.toml.
func writeHosts(t testing.TB, dir, registry, content string) {
	t.Helper()
	d := filepath.Join(dir, registry)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newTestService opens a Service whose registry config sends reg's host
// over plain HTTP.
func newTestService(t testing.TB, root string, reg *testRegistry, mod func(*Options)) *Service {
	t.Helper()
	certs := filepath.Join(root, "certs.d")
	if reg != nil {
		writeHosts(t, certs, reg.host(), fmt.Sprintf("server = %q\n", reg.srv.URL))
	}
	opts := Options{Root: root, RegistryConfigPath: certs, MaxConcurrentDownloads: 4,
		Unpack: snapshot.UnpackOptions{Rootless: os.Geteuid() != 0}}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// blobPath is the registry path of a blob.
func blobPath(repo, dgst string) string { return "/v2/" + repo + "/blobs/" + dgst }
