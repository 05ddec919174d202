package kubelet

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/test/testutil"
)

// ckptManifest is a static pod with one container that counts in memory
// and no probes (an exec'd probe in the container's cgroup while CRIU
// dumps it would fail the dump).
const ckptManifest = `apiVersion: v1
kind: Pod
metadata:
  name: ckpt
  namespace: default
spec:
  dnsPolicy: Default
  terminationGracePeriodSeconds: 2
  containers:
  - name: counter
    image: %[1]s
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >> /count.txt; sleep 0.5; done"]
`

// checkCheckpointEndpoint: the kubelet's checkpoint endpoint (KEP-2008,
// the ContainerCheckpoint gate, beta and on by default in 1.37) asks
// cricketd for CheckpointContainer and answers with the archive it wrote
// under <root-dir>/checkpoints; the archive has the layout CRI-O and
// containerd share, and `checkpointctl show` ($CHECKPOINTCTL_BIN) reads
// it. The container keeps running.
func checkCheckpointEndpoint(t *testing.T, e *env) {
	if criu := runtime.ProbeCRIU(context.Background()); !criu.Usable() {
		t.Skipf("CRIU is unusable on this host (test/integration's TestCheckpointRefusedWithoutCRIU checks the refusal): %v", criu.Err)
	}
	manifest := filepath.Join(e.manifests, "ckpt.yaml")
	tmp := filepath.Join(e.manifests, ".ckpt.yaml")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf(ckptManifest, busyboxImage)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, manifest); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.Remove(manifest); err != nil {
			t.Error(err)
		}
	}()
	podName := "ckpt-" + e.node
	testutil.Eventually(t, "the ckpt pod's counter to run", 3*time.Minute, func() error {
		for _, c := range criContainers(t, e, podName, "counter") {
			if c.GetState().String() == "CONTAINER_RUNNING" {
				return nil
			}
		}
		return errors.New("not running")
	})
	testutil.Eventually(t, "the counter to count", time.Minute, func() error {
		if n := strings.Count(execSync(t, e, podName, "counter", "cat", "/count.txt"), "\n"); n < 3 {
			return fmt.Errorf("%d counts", n)
		}
		return nil
	})
	id := running(t, e, podName, "counter").GetId()

	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/checkpoint/default/%s/counter?timeout=240", e.securePort, podName), "", nil)
	if err != nil {
		t.Fatalf("POST checkpoint: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST checkpoint: %s: %s", resp.Status, body)
	}
	var answer struct {
		Items []string `json:"items"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || len(answer.Items) != 1 {
		t.Fatalf("checkpoint answer %q (%v): want one archive", body, err)
	}
	archive := answer.Items[0]
	t.Logf("the kubelet's checkpoint: %s", archive)
	fi, err := os.Stat(archive)
	if err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(archive) != filepath.Join(e.dir, "kubelet", "checkpoints") {
		t.Fatalf("archive %s: %v, %v; want a 0600 file in the kubelet's checkpoints dir", archive, fi, err)
	}
	defer os.Remove(archive)
	wantArchiveLayout(t, archive)
	if c := running(t, e, podName, "counter"); c.GetId() != id {
		t.Errorf("the counter is %s after its checkpoint, was %s", c.GetId(), id)
	}

	bin := os.Getenv("CHECKPOINTCTL_BIN")
	if bin == "" {
		t.Log("CHECKPOINTCTL_BIN is not set: `checkpointctl show` not run")
		return
	}
	out, err := exec.Command(bin, "show", archive).CombinedOutput()
	t.Logf("checkpointctl show:\n%s", out)
	if err != nil {
		t.Fatalf("checkpointctl show %s: %v", archive, err)
	}
	for _, want := range []string{"counter", "busybox", id[:12]} {
		if !strings.Contains(string(out), want) {
			t.Errorf("checkpointctl show does not name %q", want)
		}
	}
}

// wantArchiveLayout checks that the archive holds what CRI-O's and
// containerd's do.
func wantArchiveLayout(t *testing.T, archive string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.TrimSuffix(h.Name, "/")] = true
	}
	for _, want := range []string{metadata.CheckpointDirectory, metadata.ConfigDumpFile, metadata.SpecDumpFile, metadata.RootFsDiffTar, "stats-dump"} {
		if !seen[want] {
			t.Errorf("archive lacks %s", want)
		}
	}
}
