package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
)

// After a pull and a pod with a running container, the daemon's metrics
// endpoint shows the request, pull and pod start phase histograms and the
// shim count.
func TestMetricsEndpointShowsHistograms(t *testing.T) {
	m := sharedMirror(t)
	d := newDaemon(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	if err := os.WriteFile(d.Config, []byte(fmt.Sprintf("[metrics]\naddress = %q\npprof = true\n", addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	d.Start("--registry-config-path", certs)
	t.Cleanup(func() { removeAllPods(t, d) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: podImage}}); err != nil {
		t.Fatal(err)
	}
	rt := d.Runtime()
	pod := testPod(t, "metrics", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	startContainer(t, rt, podID, pod, testContainer("sleeper", "sleep 600"))
	// An error is counted too.
	_, _ = rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "nonexistent"})

	body := scrape(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`cricket_cri_request_duration_seconds_bucket{code="OK",rpc="RunPodSandbox"`,
		`cricket_cri_request_duration_seconds_count{code="OK",rpc="StartContainer"} 1`,
		`cricket_cri_request_errors_total{code="NotFound",rpc="ContainerStatus"} 1`,
		`cricket_image_pull_duration_seconds_count{result="ok"} 1`,
		`cricket_pod_start_phase_duration_seconds_count{phase="namespaces"} 1`,
		`cricket_pod_start_phase_duration_seconds_count{phase="cni"} 1`,
		`cricket_pod_start_phase_duration_seconds_count{phase="shim"} 1`,
		`cricket_pod_start_phase_duration_seconds_count{phase="executor"} 1`,
		"cricket_shims 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "cricket_image_pull_bytes_total 0\n") {
		t.Error("pull bytes not counted")
	}
	if !strings.Contains(scrape(t, "http://"+addr+"/debug/pprof/"), "goroutine") {
		t.Error("pprof index not served")
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
