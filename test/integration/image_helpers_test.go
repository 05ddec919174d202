package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

const busyboxRef = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

var (
	mirrorOnce sync.Once
	mirror     *imagebuild.Mirror
	mirrorErr  error
)

// sharedMirror serves the catalog busybox image under its registry.k8s.io
// name from a registry on 127.0.0.1, built once per test binary.
func sharedMirror(t *testing.T) *imagebuild.Mirror {
	t.Helper()
	mirrorOnce.Do(func() { mirror, mirrorErr = harness.Mirror(busyboxRef) })
	if mirrorErr != nil {
		t.Fatal(mirrorErr)
	}
	return mirror
}

// startImageDaemon starts a daemon whose registry config mirrors each
// upstream host of hostAddrs to the plain-HTTP registry at its address.
func startImageDaemon(t *testing.T, hostAddrs map[string]string) *harness.Daemon {
	t.Helper()
	return startImageDaemonWith(t, hostAddrs, "")
}

// startImageDaemonWith is startImageDaemon with more of cricket.toml (whole
// tables, such as [tracing]).
func startImageDaemonWith(t *testing.T, hostAddrs map[string]string, extraConfig string) *harness.Daemon {
	t.Helper()
	d := newDaemon(t)
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, hostAddrs); err != nil {
		t.Fatal(err)
	}
	if cfg := handlerConfig(t) + extraConfig; cfg != "" {
		if err := os.WriteFile(d.Config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.Start("--registry-config-path", certs)
	return d
}

// tamperRegistry is go-containerregistry's registry behind a handler that
// counts requests, can replace blob bodies and can hold blob responses.
type tamperRegistry struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tamper map[string][]byte
	// hold makes blob GETs send holdAfter bytes and then wait until
	// release is closed.
	hold      bool
	holdAfter int
	held      chan struct{}
	release   chan struct{}
}

func newTamperRegistry(t *testing.T) *tamperRegistry {
	t.Helper()
	r := &tamperRegistry{tamper: map[string][]byte{}, held: make(chan struct{}, 100), release: make(chan struct{})}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		body, tampered := r.tamper[req.URL.Path]
		hold := r.hold && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/")
		r.mu.Unlock()
		switch {
		case tampered && req.Method == http.MethodGet:
			_, _ = w.Write(body)
		case hold:
			r.serveHeld(w, req, inner)
		default:
			inner.ServeHTTP(w, req)
		}
	}))
	t.Cleanup(func() {
		r.releaseAll()
		r.srv.Close()
	})
	return r
}

func (r *tamperRegistry) serveHeld(w http.ResponseWriter, req *http.Request, inner http.Handler) {
	rec := httptest.NewRecorder()
	inner.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if len(body) <= r.holdAfter {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:r.holdAfter])
	w.(http.Flusher).Flush()
	r.held <- struct{}{}
	select {
	case <-r.release:
		_, _ = w.Write(body[r.holdAfter:])
	case <-req.Context().Done():
	}
}

func (r *tamperRegistry) releaseAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.release:
	default:
		close(r.release)
	}
}

func (r *tamperRegistry) host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// tarEntry is one member of a hand-made (possibly hostile) layer.
type tarEntry struct {
	name, link, body string
	typ              byte
}

func hostileLayer(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), ModTime: time.Unix(1, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(e.body))
	}
	_ = tw.Close()
	return buf.Bytes()
}

// pushedImage is an image pushed to a tamperRegistry.
type pushedImage struct {
	ref    string
	config []byte
	layers [][]byte // gzip
}

// push uploads an OCI image of the given uncompressed layers as repo:tag.
func (r *tamperRegistry) push(t *testing.T, repo, tag string, tars ...[]byte) pushedImage {
	t.Helper()
	return r.pushAnnotated(t, repo, tag, nil, tars...)
}

// pushAnnotated is push with annotations on the manifest.
func (r *tamperRegistry) pushAnnotated(t *testing.T, repo, tag string, annotations map[string]string, tars ...[]byte) pushedImage {
	t.Helper()
	var diffIDs []string
	var descs []map[string]any
	img := pushedImage{ref: r.host() + "/" + repo + ":" + tag}
	for _, tb := range tars {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(tb)
		_ = zw.Close()
		img.layers = append(img.layers, gz.Bytes())
		diffIDs = append(diffIDs, digestOf(tb))
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digestOf(gz.Bytes()), "size": gz.Len()})
	}
	img.config, _ = json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	for _, b := range append([][]byte{img.config}, img.layers...) {
		resp, err := http.Post(r.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+digestOf(b), "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digestOf(img.config), "size": len(img.config)},
		"layers": descs}
	if annotations != nil {
		m["annotations"] = annotations
	}
	manifest, _ := json.Marshal(m)
	req, _ := http.NewRequest(http.MethodPut, r.srv.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("push manifest: %v %v", resp, err)
	}
	resp.Body.Close()
	return img
}

// writePlainHTTPHosts configures registry host (a 127.0.0.1 address) as
// plain HTTP in the daemon's registry config dir.
func writePlainHTTPHosts(t *testing.T, certs, host string) {
	t.Helper()
	dir := filepath.Join(certs, host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(fmt.Sprintf("server = %q\n", "http://"+host)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listFiles returns every path under dir, relative to it.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}
