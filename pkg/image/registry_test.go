package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestResolverOrderAndFallback(t *testing.T) {
	im := buildImage(t, "", layerTar(t, map[string]string{"a": "b"}))
	for _, tc := range []struct {
		desc string
		// hosts builds the hosts.toml for upstream "registry.k8s.io" from
		// the two registries: a holds the image, empty has nothing.
		hosts       func(a, empty *testRegistry, down string) string
		wantServed  string // "a" must have served the layer
		wantErr     error
		emptyAsked  bool
		noPlainHTTP bool
	}{
		{desc: "first mirror serves", wantServed: "a", hosts: func(a, e *testRegistry, _ string) string {
			return fmt.Sprintf("server = %q\n[host.%q]\n[host.%q]\n", e.srv.URL, a.srv.URL, e.srv.URL)
		}},
		{desc: "down mirror then empty mirror then good", wantServed: "a", emptyAsked: true, hosts: func(a, e *testRegistry, down string) string {
			return fmt.Sprintf("server = %q\n[host.\"http://%s\"]\n[host.%q]\n", a.srv.URL, down, e.srv.URL)
		}},
		{desc: "mirror without resolve is skipped for tags", wantServed: "a", hosts: func(a, e *testRegistry, _ string) string {
			return fmt.Sprintf("server = %q\n[host.%q]\ncapabilities = [\"pull\"]\n", a.srv.URL, e.srv.URL)
		}},
		{desc: "all fail with not found", wantErr: errdefs.ErrNotFound, emptyAsked: true, hosts: func(_, e *testRegistry, _ string) string {
			return fmt.Sprintf("server = %q\n", e.srv.URL)
		}},
		{desc: "https upstream is not tried over http", wantErr: errdefs.ErrUnavailable, hosts: func(a, _ *testRegistry, _ string) string {
			return fmt.Sprintf("server = \"https://%s\"\n", a.host())
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			a, empty := newTestRegistry(t), newTestRegistry(t)
			a.push("pause", "3.10", im)
			root := t.TempDir()
			writeHosts(t, root+"/certs.d", "registry.k8s.io", tc.hosts(a, empty, closedAddr(t)))
			s := newTestService(t, root, nil, nil)
			got, err := s.Pull(context.Background(), "registry.k8s.io/pause:3.10", nil, "")
			if tc.wantErr != nil {
				if !errorsIsAll(err, tc.wantErr) {
					t.Fatalf("Pull = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.RepoTags[0] != "registry.k8s.io/pause:3.10" {
				t.Errorf("tags = %v", got.RepoTags)
			}
			if a.count(blobPath("pause", Digest(im.layers[0]))) != 1 {
				t.Error("layer not served by the expected host")
			}
			if asked := empty.count("/v2/pause/manifests/3.10") > 0; asked != tc.emptyAsked {
				t.Errorf("empty mirror asked = %v, want %v", asked, tc.emptyAsked)
			}
		})
	}
}

func errorsIsAll(err, target error) bool { return err != nil && errors.Is(err, target) }

func TestMirrorGetsHeadersAndNamespace(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push("library/busybox", "latest", buildImage(t, "", layerTar(t, map[string]string{"a": "b"})))
	var gotHeader, gotNS string
	reg.wrap = func(_ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/library/busybox/manifests/latest" {
			gotHeader, gotNS = r.Header.Get("X-Team"), r.URL.Query().Get("ns")
		}
		return false
	}
	root := t.TempDir()
	writeHosts(t, root+"/certs.d", "docker.io", fmt.Sprintf("[host.%q]\nheader = { x-team = \"blue\" }\n", reg.srv.URL))
	s := newTestService(t, root, nil, nil)
	if _, err := s.Pull(context.Background(), "busybox", nil, ""); err != nil {
		t.Fatal(err)
	}
	if gotHeader != "blue" || gotNS != "docker.io" {
		t.Errorf("header %q ns %q", gotHeader, gotNS)
	}
	if _, err := s.Status("docker.io/library/busybox:latest", ""); err != nil {
		t.Error(err)
	}
}

func TestBlobDownloadResumesAfterReset(t *testing.T) {
	reg := newTestRegistry(t)
	payload := make([]byte, 300_000)
	for i := range payload {
		payload[i] = byte(i*31 + i/7)
	}
	im := buildImage(t, "", layerTar(t, map[string]string{"f": string(payload)}))
	reg.push("r/app", "latest", im)
	layerPath := blobPath("r/app", Digest(im.layers[0]))
	var resets, ranges int
	reg.wrap = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != layerPath || r.Method != http.MethodGet {
			return false
		}
		if r.Header.Get("Range") != "" {
			ranges++
			return false
		}
		resets++
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return true
		}
		body := im.layers[0]
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
		_, _ = buf.Write(body[:len(body)/2])
		_ = buf.Flush()
		_ = conn.Close()
		return true
	}
	s := newTestService(t, t.TempDir(), reg, nil)
	if _, err := s.Pull(context.Background(), reg.host()+"/r/app", nil, ""); err != nil {
		t.Fatal(err)
	}
	if resets != 1 || ranges != 1 {
		t.Errorf("resets %d, range requests %d; want 1 and 1", resets, ranges)
	}
}
