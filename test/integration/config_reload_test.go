package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// pauseRef is served by the second mirror of the reload test only.
const pauseRef = "registry.k8s.io/pause:3.10"

// SIGHUP with a pod running: a bad drop-in is refused and changes
// nothing; a good one points pulls at a new mirror, adds a runtime
// handler and names the key that needs a restart; the pod's shim and
// container keep running throughout, and Prometheus shows the generation.
func TestReloadOnSIGHUP(t *testing.T) {
	m1 := sharedMirror(t)
	m2 := harness.StartMirror(t, pauseRef)
	d := newDaemon(t)
	certs1, certs2 := filepath.Join(d.Dir, "certs1.d"), filepath.Join(d.Dir, "certs2.d")
	if err := imagebuild.WriteHostsDir(certs1, m1.Addrs()); err != nil {
		t.Fatal(err)
	}
	if err := imagebuild.WriteHostsDir(certs2, m2.Addrs()); err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	writeConfig(t, d.Config, handlerConfig(t)+fmt.Sprintf("[image]\nregistry_config_path = %q\n[metrics]\naddress = %q\n", certs1, metricsAddr))
	d.Start()
	t.Cleanup(func() { removeAllPods(t, d) })
	pull(t, d, podImage)
	rt := d.Runtime()
	pod := testPod(t, "reload", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	ctrID := startContainer(t, rt, podID, pod, testContainer("sleeper", "sleep 600"))
	daemonPid, shim, ctrPid := d.Pid(), shimPid(t, podID), containerPid(t, d, podID)
	if err := tryPull(d, pauseRef); err == nil {
		t.Fatalf("%s pulled before the reload: the first mirror should not serve it", pauseRef)
	}
	requireMetric(t, metricsAddr, "cricket_config_generation", 1)
	started := time.Now()

	dropins := filepath.Join(d.Dir, "cricket.d")
	bad := filepath.Join(dropins, "50-bad.toml")
	writeConfig(t, bad, "bogus = 1\n[image]\nregistry_config_path = \"relative\"\n")
	hup(t, d, "configuration reload refused")
	for _, want := range []string{bad + ": bogus: unknown key", bad + ": image.registry_config_path: \"relative\" is not an absolute path"} {
		if !strings.Contains(d.RunLog(), want) {
			t.Errorf("the refused reload's log lacks %q", want)
		}
	}
	if err := tryPull(d, pauseRef); err == nil {
		t.Error("a refused reload changed the registry configuration")
	}
	requireMetric(t, metricsAddr, "cricket_config_generation", 1)
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}

	writeConfig(t, filepath.Join(dropins, "10-mirror.toml"), fmt.Sprintf(
		"[grpc]\nmax_recv_message_size = 8388608\n[image]\nregistry_config_path = %q\n[runtime.handlers.extra]\ntype = \"builtin\"\n", certs2))
	hup(t, d, "configuration reloaded")
	// (root would do too, but the harness gives --root, which wins.)
	if !regexp.MustCompile(`need a restart.*keys=\["grpc.max_recv_message_size"\]`).MatchString(d.RunLog()) {
		t.Error("the log does not name grpc.max_recv_message_size as needing a restart")
	}
	if !d.Running() || d.Pid() != daemonPid {
		t.Fatalf("the daemon restarted or died on SIGHUP (pid %d, was %d)", d.Pid(), daemonPid)
	}
	if got := shimPid(t, podID); got != shim {
		t.Errorf("the pod's shim changed: pid %s, was %s", got, shim)
	}
	if got := containerPid(t, d, podID); got != ctrPid || !alive(ctrPid) {
		t.Errorf("the container process changed: pid %d (alive %v), was %d", got, alive(ctrPid), ctrPid)
	}
	if st := containerStatus(t, rt, ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container state %v after the reload", st.State)
	}
	if err := tryPull(d, pauseRef); err != nil {
		t.Errorf("the next pull does not use the new mirror: %v", err)
	}
	requireMetric(t, metricsAddr, "cricket_config_generation", 2)
	if ts := metricValue(t, metricsAddr, "cricket_config_last_reload_success_timestamp_seconds"); ts < float64(started.Unix()) {
		t.Errorf("last reload timestamp %v is before the reload (%v)", ts, started.Unix())
	}

	// The new handler is usable at once; once removed, it is refused to
	// new pods and kept for the pod that uses it.
	extra := testPod(t, "extra", runtimeapi.NamespaceMode_CONTAINER)
	extraID := runPod(t, rt, extra, "extra")
	writeConfig(t, filepath.Join(dropins, "10-mirror.toml"), fmt.Sprintf("[image]\nregistry_config_path = %q\n", certs2))
	hup(t, d, "configuration reloaded")
	_, err := rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: testPod(t, "extra2", runtimeapi.NamespaceMode_CONTAINER), RuntimeHandler: "extra"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("a removed handler for a new pod: %v, want NotFound", err)
	}
	startContainer(t, rt, extraID, extra, testContainer("late", "sleep 600"))
	requireMetric(t, metricsAddr, "cricket_config_generation", 3)
}

func writeConfig(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hup sends SIGHUP to the daemon and waits for one more log line
// containing want.
func hup(t *testing.T, d *harness.Daemon, want string) {
	t.Helper()
	before := strings.Count(d.RunLog(), want)
	if err := syscall.Kill(d.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, fmt.Sprintf("%q in the log after SIGHUP", want), 30*time.Second, func() error {
		if !d.Running() {
			t.Fatalf("cricketd exited on SIGHUP:\n%s", d.Tail(20))
		}
		if strings.Count(d.RunLog(), want) <= before {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

func tryPull(d *harness.Daemon, ref string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	return err
}

// metricValue scrapes one unlabelled sample.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, "http://"+addr+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the scrape", name)
	return 0
}

func requireMetric(t *testing.T, addr, name string, want float64) {
	t.Helper()
	if got := metricValue(t, addr, name); got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}
