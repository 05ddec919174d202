package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestImageHostileLayersRefused pulls layers built to escape the store or
// to lie about their content; each pull fails (or, for symlinks, absolute
// names and whiteouts, lands inside its layer dir) and nothing appears
// outside the store.
func TestImageHostileLayersRefused(t *testing.T) {
	reg := newTamperRegistry(t)
	d := newDaemon(t)
	outside := filepath.Join(d.Dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("safe"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := hostileLayer(t, tarEntry{name: "ok", body: strings.Repeat("x", 100_000), typ: '0'})
	for _, tc := range []struct {
		desc     string
		build    func() pushedImage
		wantFail bool
	}{
		{desc: "path traversal", wantFail: true, build: func() pushedImage {
			return reg.push(t, "traversal", "v1", hostileLayer(t, tarEntry{name: "../../../../../../" + outside + "/pwned", body: "x", typ: '0'}))
		}},
		{desc: "symlink escape then write", build: func() pushedImage {
			return reg.push(t, "symlink", "v1", hostileLayer(t, tarEntry{name: "link", link: outside, typ: '2'},
				tarEntry{name: "link/pwned", body: "x", typ: '0'}, tarEntry{name: "link/secret", body: "pwned", typ: '0'}))
		}},
		{desc: "hardlink escape", wantFail: true, build: func() pushedImage {
			return reg.push(t, "hardlink", "v1", hostileLayer(t, tarEntry{name: "h", link: "../../../../../../" + outside + "/secret", typ: '1'}))
		}},
		{desc: "absolute entry name", build: func() pushedImage {
			return reg.push(t, "absolute", "v1", hostileLayer(t, tarEntry{name: outside + "/pwned", body: "x", typ: '0'}))
		}},
		{desc: "symlink chain escape then write", build: func() pushedImage {
			return reg.push(t, "chain", "v1", hostileLayer(t, tarEntry{name: "a", link: "b", typ: '2'},
				tarEntry{name: "b", link: strings.Repeat("../", 12) + strings.TrimPrefix(outside, "/"), typ: '2'},
				tarEntry{name: "a/pwned", body: "x", typ: '0'}, tarEntry{name: "a/secret", body: "pwned", typ: '0'}))
		}},
		{desc: "whiteout through symlink", build: func() pushedImage {
			return reg.push(t, "whiteout", "v1", hostileLayer(t, tarEntry{name: "link", link: outside, typ: '2'},
				tarEntry{name: "link/.wh.secret", typ: '0'}, tarEntry{name: "link/.wh..wh..opq", typ: '0'}))
		}},
		{desc: "hard link of a symlink out, then written", build: func() pushedImage {
			return reg.push(t, "hardsym", "v1", hostileLayer(t, tarEntry{name: "s", link: outside + "/secret", typ: '2'},
				tarEntry{name: "h", link: "s", typ: '1'}, tarEntry{name: "h", body: "pwned", typ: '0'}, tarEntry{name: "s", body: "pwned", typ: '0'}))
		}},
		{desc: "hard link through a symlinked dir", wantFail: true, build: func() pushedImage {
			return reg.push(t, "hardthrough", "v1", hostileLayer(t, tarEntry{name: "link", link: outside, typ: '2'},
				tarEntry{name: "h", link: "link/secret", typ: '1'}))
		}},
		{desc: "bogus digest", wantFail: true, build: func() pushedImage {
			img := reg.push(t, "bogus", "v1", good)
			bad := append([]byte(nil), img.layers[0]...)
			bad[len(bad)/2] ^= 0xff
			reg.mu.Lock()
			reg.tamper["/v2/bogus/blobs/"+digestOf(img.layers[0])] = bad
			reg.mu.Unlock()
			return img
		}},
		{desc: "truncated blob", wantFail: true, build: func() pushedImage {
			img := reg.push(t, "truncated", "v1", good)
			reg.mu.Lock()
			reg.tamper["/v2/truncated/blobs/"+digestOf(img.layers[0])] = img.layers[0][:len(img.layers[0])/2]
			reg.mu.Unlock()
			return img
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			img := tc.build()
			if d.Pid() == 0 {
				certs := filepath.Join(d.Dir, "certs.d")
				writePlainHTTPHosts(t, certs, reg.host())
				d.Start("--registry-config-path", certs)
			}
			_, err := d.Image().PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img.ref}})
			if tc.wantFail != (err != nil) {
				t.Errorf("pull err = %v, wantFail %v", err, tc.wantFail)
			}
			if got := listFiles(t, outside); len(got) != 1 || got[0] != "secret" {
				t.Errorf("outside dir now holds %v", got)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "safe" {
				t.Errorf("outside secret changed to %q", b)
			}
			if left := listFiles(t, filepath.Join(d.Root, "images", "content", "ingest")); len(left) != 0 {
				t.Errorf("ingest files left: %v", left)
			}
			if tc.wantFail {
				resp, err := d.Image().ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: img.ref}})
				if err != nil || resp.Image != nil {
					t.Errorf("refused image is visible: %v, %v", resp, err)
				}
			}
		})
	}
	if left := listFiles(t, d.Dir); containsEscape(left) {
		t.Errorf("files escaped into the test dir: %v", left)
	}
}

func containsEscape(paths []string) bool {
	for _, p := range paths {
		if filepath.Base(p) == "pwned" && !strings.HasPrefix(p, "root/") {
			return true
		}
	}
	return false
}
