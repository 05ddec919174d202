package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestSetSettings(t *testing.T) {
	upstream, mirror := newTestRegistry(t), newTestRegistry(t)
	im := buildImage(t, "", layerTar(t, map[string]string{"f": "x"}))
	mirror.push("app", "v1", im)
	root := t.TempDir()
	s := newTestService(t, root, upstream, nil)
	ctx := context.Background()
	ref := upstream.host() + "/app:v1"
	if _, err := s.Pull(ctx, ref, nil, ""); err == nil {
		t.Fatal("the upstream has no such image: want an error")
	}

	// A second hosts directory sends the upstream to the mirror.
	certs2 := filepath.Join(root, "certs2.d")
	writeHosts(t, certs2, upstream.host(), fmt.Sprintf("server = %q\n[host.%q]\ncapabilities = [\"pull\", \"resolve\"]\n", upstream.srv.URL, mirror.srv.URL))
	if err := s.SetSettings(ctx, Settings{RegistryConfigPath: certs2, PinnedImages: []string{ref}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pull(ctx, ref, nil, "")
	if err != nil {
		t.Fatalf("pull through the new mirror: %v", err)
	}
	if !got.Pinned {
		t.Error("the new pinned images are not applied")
	}
	if mirror.count("/v2/app/manifests/v1") == 0 {
		t.Error("the mirror was not asked")
	}

	bad := filepath.Join(root, "config.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSettings(ctx, Settings{DockerConfigPath: bad}); err == nil {
		t.Fatal("a bad docker config: want an error")
	}
	if im, err := s.Status(ref, ""); err != nil || !im.Pinned {
		t.Errorf("a failed SetSettings changed the settings: pinned %v, %v", im.Pinned, err)
	}
}

// Pulls and listings running while the settings change see one set of
// settings or the other, never a torn one (run with -race).
func TestSetSettingsDuringPulls(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push("app", "v1", buildImage(t, "", layerTar(t, map[string]string{"f": "x"})))
	root := t.TempDir()
	s := newTestService(t, root, reg, nil)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			_ = s.SetSettings(ctx, Settings{RegistryConfigPath: filepath.Join(root, "certs.d"), MaxConcurrentDownloads: 1 + i%3,
				PinnedImages: []string{reg.host() + "/app:v1"}})
		}
	}()
	for range 5 {
		if _, err := s.Pull(ctx, reg.host()+"/app:v1", nil, ""); err != nil {
			t.Fatal(err)
		}
		_ = s.List("", "")
	}
	<-done
}
