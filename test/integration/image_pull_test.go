package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestImageCrictlPullListInspectRemove(t *testing.T) {
	m := sharedMirror(t)
	d := startImageDaemon(t, m.Addrs())
	digestRef := "registry.k8s.io/e2e-test-images/busybox@" + m.Pushed[0].Digest.String()
	for _, ref := range []string{busyboxRef, digestRef} {
		if out, err := d.Crictl("pull", ref); err != nil {
			t.Fatalf("crictl pull %s: %v\n%s", ref, err, out)
		}
	}
	out, err := d.Crictl("images", "--digests")
	if err != nil || !strings.Contains(out, "registry.k8s.io/e2e-test-images/busybox") || !strings.Contains(out, "1.29-2") {
		t.Fatalf("crictl images: %v\n%s", err, out)
	}
	out, err = d.Crictl("inspecti", busyboxRef)
	if err != nil {
		t.Fatalf("crictl inspecti: %v\n%s", err, out)
	}
	var inspect struct {
		Status struct {
			ID          string   `json:"id"`
			RepoTags    []string `json:"repoTags"`
			RepoDigests []string `json:"repoDigests"`
			Size        string   `json:"size"`
		} `json:"status"`
		Info map[string]any `json:"info"`
	}
	if err := json.Unmarshal([]byte(out), &inspect); err != nil {
		t.Fatalf("inspecti output: %v\n%s", err, out)
	}
	if !strings.HasPrefix(inspect.Status.ID, "sha256:") || len(inspect.Status.RepoTags) != 1 ||
		inspect.Status.RepoDigests[0] != digestRef || inspect.Status.Size == "0" {
		t.Errorf("inspecti = %+v", inspect.Status)
	}
	out, err = d.Crictl("imagefsinfo")
	if err != nil || !strings.Contains(out, `"usedBytes"`) || !strings.Contains(out, filepath.Join(d.Root, "images")) {
		t.Fatalf("crictl imagefsinfo: %v\n%s", err, out)
	}
	for i := range 2 {
		if out, err := d.Crictl("rmi", busyboxRef); err != nil && i == 0 {
			t.Fatalf("crictl rmi: %v\n%s", err, out)
		}
	}
	resp, err := d.Image().ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: digestRef}})
	if err != nil || resp.Image != nil {
		t.Errorf("status after rmi = %v, %v; want no image (all names removed)", resp, err)
	}
	blobs, _ := os.ReadDir(filepath.Join(d.Root, "images", "content", "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Errorf("%d blobs left after rmi", len(blobs))
	}
}

func TestImageTenConcurrentPullsFetchEachBlobOnce(t *testing.T) {
	m := sharedMirror(t)
	reg := m.Registries["registry.k8s.io"]
	d := startImageDaemon(t, m.Addrs())
	reg.ResetCounts()
	client := d.Image()
	var wg sync.WaitGroup
	ids := make([]string, 10)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: busyboxRef}})
			ids[i], errs[i] = resp.GetImageRef(), err
		}()
	}
	wg.Wait()
	for i := range 10 {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("pull %d = %q, %v (first %q)", i, ids[i], errs[i], ids[0])
		}
	}
	if reg.TotalBlobGets() == 0 {
		t.Fatal("no blob fetched")
	}
	for k, n := range reg.RequestCounts() {
		if strings.HasPrefix(k, "GET ") && strings.Contains(k, "/blobs/") && n != 1 {
			t.Errorf("%s requested %d times", k, n)
		}
	}
}

func TestImagePullInterruptedByKillRestartsCleanly(t *testing.T) {
	reg := newTamperRegistry(t)
	big := make([]byte, 4<<20)
	_, _ = rand.Read(big) // incompressible, so the held blob is large
	img := reg.push(t, "big", "v1", hostileLayer(t, tarEntry{name: "data", body: string(big), typ: '0'}))
	reg.hold, reg.holdAfter = true, 64<<10
	d := newDaemon(t)
	certs := filepath.Join(d.Dir, "certs.d")
	writePlainHTTPHosts(t, certs, reg.host())
	d.Start("--registry-config-path", certs)
	go func() {
		_, _ = d.Image().PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img.ref}})
	}()
	select {
	case <-reg.held:
	case <-time.After(30 * time.Second):
		t.Fatal("pull never reached the layer")
	}
	if !d.Signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatal("cricketd survived SIGKILL")
	}
	reg.mu.Lock()
	reg.hold = false
	reg.mu.Unlock()
	reg.releaseAll()
	d.Start("--registry-config-path", certs)
	resp, err := d.Image().ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: img.ref}})
	if err != nil || resp.Image != nil {
		t.Fatalf("half-pulled image visible after restart: %v, %v", resp, err)
	}
	if left := listFiles(t, filepath.Join(d.Root, "images", "content", "ingest")); len(left) != 0 {
		t.Errorf("partial downloads kept: %v", left)
	}
	if left := listFiles(t, filepath.Join(d.Root, "images", "content", "blobs", "sha256")); len(left) != 0 {
		// Only verified blobs may be there, and nothing references them yet.
		t.Errorf("blobs of an unrecorded image kept: %v", left)
	}
	pull, err := d.Image().PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img.ref}})
	if err != nil || pull.ImageRef != digestOf(img.config) {
		t.Fatalf("pull after restart = %v, %v", pull, err)
	}
	var found bool
	_ = filepath.Walk(filepath.Join(d.Root, "snapshots"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "data" && fi.Size() == int64(len(big)) {
			found = true
		}
		return nil
	})
	if !found {
		t.Error("unpacked layer file not found after the second pull")
	}
}
