package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// Names the imported images get; no registry serves them.
const (
	importedDocker = "example.invalid/imported/busybox:docker"
	importedOCI    = "example.invalid/imported/busybox:oci"
)

// importArchives writes the catalog busybox image as a docker archive and
// as an OCI layout directory, named importedDocker and importedOCI.
func importArchives(t *testing.T) (dockerTar, ociDir string) {
	t.Helper()
	spec, ok := imagebuild.Lookup(busyboxRef)
	if !ok {
		t.Fatalf("%s is not in the catalog", busyboxRef)
	}
	a, err := imagebuild.Build(spec, imagebuild.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := a.PlatformImage()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dockerTar = filepath.Join(dir, "busybox.tar")
	tag, err := name.NewTag(importedDocker)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(dockerTar, tag, img); err != nil {
		t.Fatal(err)
	}
	ociDir = filepath.Join(dir, "layout")
	p, err := layout.Write(ociDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"io.containerd.image.name": importedOCI})); err != nil {
		t.Fatal(err)
	}
	return dockerTar, ociDir
}

// imageImport runs `cricketd image import` against d's directories.
func imageImport(t *testing.T, d *harness.Daemon, stdin *os.File, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cricketdBin, append(append([]string{"image", "import"}, d.Flags()...), args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestImageImport imports a docker archive into the store of a stopped
// daemon, then an OCI layout through the running one (from stdin, as
// `docker exec -i node cricketd image import -` does), and runs a container
// of each with no registry configured or reachable.
func TestImageImport(t *testing.T) {
	testutil.RequireRoot(t)
	dockerTar, ociDir := importArchives(t)
	d := newDaemon(t)

	out, err := imageImport(t, d, nil, dockerTar)
	if err != nil || !strings.Contains(out, importedDocker) {
		t.Fatalf("offline import: %v\n%s", err, out)
	}
	d.Start()
	t.Cleanup(func() { removeAllPods(t, d) })
	if _, err := os.Stat(filepath.Join(d.State, "admin.sock")); err != nil {
		t.Fatalf("admin socket: %v", err)
	}
	ociTar := filepath.Join(t.TempDir(), "layout.tar")
	if b, err := exec.Command("tar", "-C", ociDir, "-cf", ociTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	f, err := os.Open(ociTar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err = imageImport(t, d, f, "-")
	if err != nil || !strings.Contains(out, importedOCI) {
		t.Fatalf("import through the daemon: %v\n%s", err, out)
	}
	out, err = imageImport(t, d, nil, ociDir)
	if err != nil || !strings.Contains(out, importedOCI) {
		t.Fatalf("import of a layout directory through the daemon: %v\n%s", err, out)
	}
	if !strings.Contains(d.Log(), "imported images") {
		t.Errorf("the daemon did not log the import")
	}
	out, err = imageImport(t, d, nil, filepath.Join(t.TempDir(), "missing.tar"))
	if err == nil || !strings.Contains(out, "no such file") {
		t.Errorf("import of a missing file: %v\n%s", err, out)
	}

	rt := d.Runtime()
	for i, ref := range []string{importedDocker, importedOCI} {
		st, err := d.Image().ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err != nil || st.Image == nil {
			t.Fatalf("ImageStatus %s = %v, %v", ref, st, err)
		}
		pod := testPod(t, "import-"+string(rune('a'+i)), runtimeapi.NamespaceMode_CONTAINER)
		podID := runPod(t, rt, pod, "")
		cfg := testContainer("c", "echo ran from $0; sleep 60")
		cfg.Image.Image = ref
		id := startContainer(t, rt, podID, pod, cfg)
		if got := execSync(t, rt, id, "cat", "/etc/hostname"); got != pod.Hostname {
			t.Errorf("container of %s: hostname %q, want %q", ref, got, pod.Hostname)
		}
	}
}
