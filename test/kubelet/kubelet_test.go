// Package kubelet runs a real kubelet in standalone mode (no API server,
// static pods) against a cricketd of its own and checks that the pods
// behave as they do on containerd. `make kubelet-e2e` builds the kubelet
// (test/kubelet/build.sh) and runs it; see test/kubelet/README.md.
package kubelet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// The kernel settings the kubelet insists on (setupKernelTunables in
// pkg/kubelet/cm): it rewrites the host's values unless they already match,
// and protectKernelDefaults only turns the rewrite into a start failure. The
// test runs the kubelet in a mount namespace of its own where these files
// are bind-mounted copies holding the expected values, so the host's
// settings (panic on oops, reboot after panic) are never changed.
var kubeletSysctls = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// env is one run: a work dir, the image mirror, the pod network, a
// cricketd and a kubelet, all private to the run.
type env struct {
	dir, out, id, node, cgroupRoot, marker string
	sock, manifests, podLogs               string
	readOnlyPort, securePort, healthzPort  int
	metricsPort, hostPort                  int
	net                                    *podNet
	cricketd                               *harness.Daemon
	kubelet                                *proc
	api                                    *kubeletAPI
	// t is the run's test (processes live as long as it).
	t *testing.T
	// gates are the kubelet's feature gates, "A=true,B=false".
	gates string
	// systemd: cricketd and the kubelet use the systemd cgroup driver
	// ($KUBELET_CGROUP_DRIVER=systemd, on a cgroup v2 host with systemd:
	// test/vm); the kubelet's cgroupRoot is then "/" and its pods live in
	// kubepods.slice, which cgroupRoot names.
	systemd bool
	// callsBefore counts the CRI calls daemons that were restarted
	// served; quiet are byte ranges of the kubelet's log written while
	// cricketd was restarting, where Unavailable is expected.
	callsBefore map[string]int
	quiet       [][2]int64
}

// kubeletModes are the kubelet configurations the test runs: its defaults,
// and with pod and container stats taken from the CRI (beta, off by
// default in 1.37), which adds PodSandboxStats, ListPodSandboxStats and
// ListMetricDescriptors to the calls.
var kubeletModes = []struct{ name, gates string }{
	{name: "default"},
	{name: "stats from CRI", gates: "PodAndContainerStatsFromCRI=true"},
}

func TestKubeletStaticPods(t *testing.T) {
	testutil.RequireRoot(t)
	kubeletBin, cricketdBin := os.Getenv("KUBELET_BIN"), os.Getenv("CRICKETD_BIN")
	if kubeletBin == "" || cricketdBin == "" {
		t.Skip("set KUBELET_BIN and CRICKETD_BIN (make kubelet-e2e builds both)")
	}
	root := outputDir(t)
	for _, m := range kubeletModes {
		t.Run(m.name, func(t *testing.T) {
			out := filepath.Join(root, strings.ReplaceAll(m.name, " ", "-"))
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			runStaticPods(t, cricketdBin, kubeletBin, out, m.gates)
		})
	}
}

// runStaticPods is one run: a cricketd and a kubelet with the given
// feature gates, the two static pods, every check, then teardown.
func runStaticPods(t *testing.T, cricketdBin, kubeletBin, out, gates string) {
	started := time.Now()
	e := setUp(t, cricketdBin, kubeletBin, out, gates)
	hostSysctls := readSysctls(t)

	for _, m := range []struct{ name, text string }{
		{"web.yaml", fmt.Sprintf(webManifest, busyboxImage, e.hostPort, absentHostPath(e), probeTimeout(t))},
		{"crash.yaml", fmt.Sprintf(crashManifest, busyboxImage, probeTimeout(t))},
	} {
		// Atomically: the kubelet would read a half-written file (it skips
		// dot files).
		tmp := filepath.Join(e.manifests, "."+m.name)
		if err := os.WriteFile(tmp, []byte(m.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(e.manifests, m.name)); err != nil {
			t.Fatal(err)
		}
	}
	web, crash := "web-"+e.node, "crash-"+e.node
	testutil.Eventually(t, "the web pod to be Ready", 4*time.Minute, func() error {
		pods, err := e.api.pods()
		if err != nil {
			return err
		}
		p := pods[web]
		if p != nil && p.Status.Phase == "Running" && p.condition("Ready") == "True" {
			return nil
		}
		return errors.New(describe(p))
	})
	t.Logf("web pod Ready %s after the manifests were written", time.Since(started).Round(time.Second))

	t.Run("init container ran first and shares the volume", func(t *testing.T) { checkInit(t, e, web) })
	t.Run("two containers share the pod network", func(t *testing.T) { checkSharedNetwork(t, e, web) })
	t.Run("hostPath without a type that does not exist is created", func(t *testing.T) { checkAbsentHostPath(t, e, web) })
	t.Run("hostPort", func(t *testing.T) { checkHostPort(t, e) })
	t.Run("resource limits", func(t *testing.T) { checkResources(t, e, web) })
	t.Run("readiness probes", func(t *testing.T) { checkReadiness(t, e, web, crash) })
	t.Run("crashing container is restarted", func(t *testing.T) { checkCrashRestarts(t, e, crash) })
	t.Run("failed liveness probe restarts", func(t *testing.T) { checkLiveness(t, e, crash) })
	t.Run("log rotation", func(t *testing.T) { checkLogRotation(t, e, web) })
	t.Run("kubelet exec and logs", func(t *testing.T) { checkKubeletExecAndLogs(t, e, web) })
	t.Run("kubelet streaming", func(t *testing.T) { checkKubeletStreaming(t, e, web) })
	t.Run("stats summary", func(t *testing.T) { checkStatsSummary(t, e, web) })
	t.Run("kubelet checkpoint endpoint", func(t *testing.T) { checkCheckpointEndpoint(t, e) })
	t.Run("cricketd restart", func(t *testing.T) { checkDaemonRestart(t, e, web) })
	t.Run("pods removed with their manifests", func(t *testing.T) { checkTeardown(t, e) })

	report(t, e)
	tearDown(t, e, hostSysctls)
	t.Logf("this run took %s", time.Since(started).Round(time.Second))
}

// setUp starts everything but the pods.
func setUp(t *testing.T, cricketdBin, kubeletBin, out, gates string) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "kle-")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(filepath.Base(dir), "kle-")
	id = strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]`).ReplaceAllString(id, "x"))
	e := &env{
		dir:        dir,
		id:         id,
		node:       "kle-" + id,
		cgroupRoot: "cricket-kle-" + id,
		marker:     "CRICKET_KUBELET_E2E=" + id,
		sock:       filepath.Join(dir, "s", "cricket.sock"),
		manifests:  filepath.Join(dir, "manifests"),
		podLogs:    filepath.Join(dir, "pod-logs"),
		out:        out,
		t:          t,
		gates:      gates,
	}
	t.Cleanup(func() {
		// Last: what is still mounted or running keeps the dir.
		if len(mountsUnder(dir)) == 0 {
			_ = os.RemoveAll(dir)
		}
	})
	t.Cleanup(func() { keepLogs(t, e) })
	for _, d := range []string{"s", "root", "tmp", "manifests", "pod-logs", "kubelet", "sysctl", "certs.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := harness.StartMirror(t, busyboxImage)
	if err := imagebuild.WriteHostsDir(filepath.Join(dir, "certs.d"), m.Addrs()); err != nil {
		t.Fatal(err)
	}
	e.net = newPodNet(t, dir, id)
	if e.systemd = systemdDriver(t); e.systemd {
		e.cgroupRoot = "kubepods.slice"
		t.Cleanup(func() { stopKubepodsSlice(t) })
	} else {
		createCgroupRoot(t, e.cgroupRoot)
		t.Cleanup(func() {
			if left := removeCgroups(t, e.cgroupRoot); len(left) > 0 {
				t.Errorf("cgroups left under /%s: %v", e.cgroupRoot, left)
			}
		})
	}
	e.metricsPort, e.readOnlyPort, e.securePort, e.healthzPort = testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	// portmap DNATs the hostPort; no socket holds it, so pick one nothing listens on.
	e.hostPort = testutil.FreePort(t)
	e.cricketd = newCricketd(t, e, cricketdBin)
	startCricketd(t, e)
	// On failure: after the kubelet stops (its cleanup runs first), the
	// pods go through the CRI before cricketd stops, so that no shim,
	// mount or cgroup outlives the run.
	t.Cleanup(func() {
		if e.kubelet != nil {
			e.kubelet.stop(t, 30*time.Second)
		}
		removeAllPods(t, e)
	})
	startKubelet(t, e, kubeletBin)
	return e
}

func outputDir(t *testing.T) string {
	t.Helper()
	out := os.Getenv("KUBELET_E2E_OUTPUT")
	if out == "" {
		out = filepath.Join("..", "..", "_output", "kubelet-e2e")
	}
	out, err := filepath.Abs(out)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// keepLogs copies the daemon's and the kubelet's logs (and the pods' logs)
// to the output dir.
func keepLogs(t *testing.T, e *env) {
	for _, f := range []string{filepath.Join(e.dir, "kubelet.log"), e.cricketd.LogFile} {
		if b, err := os.ReadFile(f); err == nil {
			_ = os.WriteFile(filepath.Join(e.out, filepath.Base(f)), b, 0o644)
		}
	}
	t.Logf("logs: %s", e.out)
}

// newCricketd prepares the run's cricketd. It lives as long as the run's
// t, its log in cricketd.log over every start.
func newCricketd(t *testing.T, e *env, bin string) *harness.Daemon {
	d := harness.NewDaemon(t, bin, e.dir)
	d.State, d.Socket = filepath.Join(e.dir, "s"), e.sock
	d.Args = []string{"--registry-config-path", filepath.Join(e.dir, "certs.d"), "-v", "4"}
	d.Env = []string{e.marker, "TMPDIR=" + filepath.Join(e.dir, "tmp")}
	d.LogFile = filepath.Join(e.dir, "cricketd.log")
	d.OwnGroup = true
	return d
}

// startCricketd writes the run's cricket.toml and starts (or restarts)
// its cricketd.
func startCricketd(t *testing.T, e *env) {
	t.Helper()
	cfg := fmt.Sprintf(`# Written by test/kubelet.
version = 1

[runtime]
cgroup_driver = "%s"

%s
[streaming]
address = "127.0.0.1"
port = 0

[metrics]
address = "127.0.0.1:%d"
`, e.cgroupDriver(), e.net.Config(), e.metricsPort)
	if err := os.WriteFile(e.cricketd.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The run's daemon, started from this (sub)test: its t fails.
	if err := e.cricketd.TryStart(); err != nil {
		t.Fatal(err)
	}
}

// kubeletConfig is the run's KubeletConfiguration drop-in. cgroupRoot is a
// cgroup of the test's own so that the kubelet's kubepods hierarchy never
// touches the host's; eviction thresholds are minimal so that a full disk
// elsewhere on a shared machine does not evict the test's pods.
func kubeletConfig(e *env) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://%[1]s
imageServiceEndpoint: unix://%[1]s
# The run's pods live below %[2]s.
cgroupsPerQOS: true
enforceNodeAllocatable: ["pods"]
failSwapOn: false
protectKernelDefaults: false
makeIPTablesUtilChains: false
staticPodPath: %[3]s
fileCheckFrequency: 2s
syncFrequency: 10s
podLogsDir: %[4]s
containerLogMaxSize: 16Ki
containerLogMaxFiles: 3
containerLogMonitorInterval: 3s
address: 127.0.0.1
port: %[5]d
readOnlyPort: %[6]d
healthzBindAddress: 127.0.0.1
healthzPort: %[7]d
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
evictionHard:
  memory.available: 1Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: false
runtimeRequestTimeout: 2m
`, e.sock, e.cgroupRoot, e.manifests, e.podLogs, e.securePort, e.readOnlyPort, e.healthzPort) + e.cgroupConfig() + featureGates(e.gates)
}

// cgroupDriver is the driver of cricketd and the kubelet.
func (e *env) cgroupDriver() string {
	if e.systemd {
		return "systemd"
	}
	return "cgroupfs"
}

// cgroupConfig is the kubelet's cgroup settings: with cgroupfs, a
// cgroupRoot of the test's own; with systemd, the default root (the
// kubelet's slices are kubepods*.slice). failCgroupV1 keeps its default
// (true) on a cgroup v2 host and is turned off on a v1 one.
func (e *env) cgroupConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cgroupDriver: %s\n", e.cgroupDriver())
	if !e.systemd {
		fmt.Fprintf(&b, "cgroupRoot: /%s\n", e.cgroupRoot)
	}
	if !cgroupV2() {
		b.WriteString("failCgroupV1: false\n")
	}
	return b.String()
}

// featureGates turns "A=true,B=false" into a featureGates block.
func featureGates(list string) string {
	if strings.TrimSpace(list) == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("featureGates:\n")
	for _, kv := range strings.Split(list, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		fmt.Fprintf(&b, "  %s: %s\n", k, v)
	}
	return b.String()
}

// kubeletWrapper runs in the kubelet's private mount namespace (slave
// propagation: it sees the host's mounts, the host never sees its own):
// it fakes the kernel settings the kubelet would rewrite and gives it a
// /var/log of its own for the /var/log/containers symlinks, then execs it.
const kubeletWrapper = `set -e
dir=$1; shift
for f in $(cd "$dir/sysctl" && ls); do
	mount --bind "$dir/sysctl/$f" "/proc/sys/$(echo "$f" | tr . /)"
done
mount -t tmpfs -o size=16m,mode=0755 kubelet-e2e-log /var/log
exec "$@"
`

func startKubelet(t *testing.T, e *env, bin string) {
	t.Helper()
	for name, v := range kubeletSysctls {
		if err := os.WriteFile(filepath.Join(e.dir, "sysctl", strings.ReplaceAll(name, "/", ".")), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The kubelet reads deploy/kubelet/kubelet-config.yaml, the snippet
	// operators use, and the run's settings as a drop-in over it.
	base, err := filepath.Abs(filepath.Join("..", "..", "deploy", "kubelet", "kubelet-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dropins := filepath.Join(e.dir, "kubelet.conf.d")
	if err := os.MkdirAll(dropins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dropins, "50-e2e.conf"), []byte(kubeletConfig(e)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.kubelet = startProc(t, "kubelet", filepath.Join(e.dir, "kubelet.log"), []string{e.marker},
		"unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", kubeletWrapper, "kubelet-e2e", e.dir,
		bin, "--config", base, "--config-dir", dropins, "--root-dir", filepath.Join(e.dir, "kubelet"), "--hostname-override", e.node, "-v", "2")
	e.api = newKubeletAPI(e.readOnlyPort, e.securePort)
	testutil.Eventually(t, "the kubelet's healthz", 2*time.Minute, func() error {
		if !e.kubelet.Running() {
			t.Fatalf("the kubelet exited:\n%s", e.kubelet.tail(40))
		}
		b, err := e.api.do("GET", fmt.Sprintf("http://127.0.0.1:%d/healthz", e.healthzPort))
		if err == nil && string(b) == "ok" {
			return nil
		}
		return fmt.Errorf("%s %v", b, err)
	})
}

func readSysctls(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name := range kubeletSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = strings.TrimSpace(string(b))
	}
	return out
}

// report logs the CRI calls cricketd served, by RPC and code (from its
// metrics), and the kubelet's log lines about CRI failures; a CRI error in
// the kubelet's log fails the test.
func report(t *testing.T, e *env) {
	t.Helper()
	counts, err := criCallCounts(e.metricsPort)
	if err == nil {
		for k, n := range e.callsBefore {
			counts[k] += n
		}
	}
	if err != nil {
		t.Errorf("read cricketd's metrics: %v", err)
	} else {
		var b bytes.Buffer
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%-34s %d\n", k, counts[k])
		}
		_ = os.WriteFile(filepath.Join(e.out, "cri-calls.txt"), b.Bytes(), 0o644)
		t.Logf("CRI calls the kubelet made (rpc code count):\n%s", b.String())
	}
	logText, err := os.ReadFile(e.kubelet.log)
	if err != nil {
		t.Fatal(err)
	}
	removed := removedContainers(e.cricketd.Log())
	outside, inside := splitQuiet(logText, e.quiet)
	bad, tolerated := criErrors(outside, removed)
	restartBad, restartTolerated := criErrors(inside, removed)
	for _, line := range restartBad {
		// The kubelet's calls while cricketd was down.
		if unavailable.MatchString(line) {
			restartTolerated = append(restartTolerated, line)
		} else {
			bad = append(bad, line)
		}
	}
	if len(restartTolerated) > 0 {
		t.Logf("%d kubelet log lines with CRI errors while cricketd restarted (Unavailable) were tolerated", len(restartTolerated))
	}
	if len(tolerated) > 0 {
		_ = os.WriteFile(filepath.Join(e.out, "tolerated-cri-errors.txt"), []byte(strings.Join(tolerated, "\n")+"\n"), 0o644)
		t.Logf("%d kubelet log lines with CRI errors of the kubelet's own making (see criErrors) were tolerated; in %s, the first:\n%s",
			len(tolerated), filepath.Join(e.out, "tolerated-cri-errors.txt"), tolerated[0])
	}
	if len(bad) > 0 {
		t.Errorf("the kubelet logged %d CRI errors:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

var (
	// criErrorLine matches kubelet log lines that carry a gRPC error from
	// the runtime.
	criErrorLine = regexp.MustCompile(`rpc error: code = `)
	// notFoundContainer is the kubelet's line for a ContainerStatus of a
	// container that is gone.
	notFoundContainer = regexp.MustCompile(`rpc error: code = NotFound desc = container \\"([0-9a-f]{64})\\": not found`)
	// sandboxStatsProbe is the kubelet's start-up probe with the
	// PodAndContainerStatsFromCRI gate: PodSandboxStats of sandbox "" to
	// learn whether the runtime implements it (any answer but
	// Unimplemented means yes). cricketd answers InvalidArgument,
	// containerd NotFound; the kubelet logs either.
	sandboxStatsProbe = regexp.MustCompile(`"PodSandbox from runtime service failed" err="rpc error: code = InvalidArgument desc = pod sandbox ID is required[^"]*" podSandboxID=""$`)
	// clientCanceled is a call the kubelet's own context ended before an
	// answer: grpc-go reports it as Canceled "context canceled" without
	// the runtime's involvement (kubelet 1.37's runtime version cache
	// refreshes with a context that is already canceled, on any runtime).
	clientCanceled = regexp.MustCompile(`err="rpc error: code = Canceled desc = context canceled"`)
	// removedContainer is cricketd's line (at -v 4) for a container it
	// removed on a request.
	removedContainer = regexp.MustCompile(`"container removed" .*containerID="([0-9a-f]{64})"`)
)

// unavailable is a kubelet call that found no cricketd to answer it.
var unavailable = regexp.MustCompile(`rpc error: code = Unavailable desc = `)

// splitQuiet splits the kubelet's log into the text outside and inside the
// quiet byte ranges.
func splitQuiet(log []byte, quiet [][2]int64) (outside, inside string) {
	var out, in strings.Builder
	var at int64
	for _, q := range quiet {
		lo, hi := min(q[0], int64(len(log))), min(q[1], int64(len(log)))
		out.Write(log[at:lo])
		in.Write(log[lo:hi])
		at = hi
	}
	out.Write(log[at:])
	return out.String(), in.String()
}

// removedContainers returns the IDs of the containers cricketd removed.
func removedContainers(daemonLog string) map[string]bool {
	out := map[string]bool{}
	for _, m := range removedContainer.FindAllStringSubmatch(daemonLog, -1) {
		out[m[1]] = true
	}
	return out
}

// criErrors returns the kubelet's log lines with CRI errors, less those it
// tolerates: its PodSandboxStats probe (sandboxStatsProbe), calls its own
// context canceled (clientCanceled), and: the kubelet deletes a dead container from more than one place
// (each PLEG event queues it for its pod_container_deletor), and every
// attempt after the first asks ContainerStatus of a container it removed
// itself and logs the NotFound. containerd answers the same; NotFound is
// the CRI's answer for a missing container. Any other error, or a NotFound
// for a container cricketd never removed, is not tolerated.
func criErrors(log string, removed map[string]bool) (bad, tolerated []string) {
	for _, line := range strings.Split(log, "\n") {
		if !criErrorLine.MatchString(line) {
			continue
		}
		if m := notFoundContainer.FindStringSubmatch(line); m != nil && removed[m[1]] && strings.Count(line, "rpc error") == strings.Count(line, m[0]) {
			tolerated = append(tolerated, line)
			continue
		}
		if sandboxStatsProbe.MatchString(line) || (clientCanceled.MatchString(line) && strings.Count(line, "rpc error") == 1) {
			tolerated = append(tolerated, line)
			continue
		}
		bad = append(bad, line)
	}
	return bad, tolerated
}

// tearDown stops the kubelet and cricketd and checks that nothing of the
// run is left: processes, mounts, cgroups, the bridge, host sysctls.
func tearDown(t *testing.T, e *env, hostSysctls map[string]string) {
	t.Helper()
	if !e.kubelet.stop(t, 30*time.Second) {
		t.Errorf("the kubelet did not stop on SIGTERM")
	}
	removeAllPods(t, e)
	if !e.cricketd.Stop() {
		t.Errorf("cricketd did not stop on SIGTERM")
	}
	var left []string
	waitForNothing := time.Now().Add(20 * time.Second)
	for {
		left = leftoverProcs(e.marker, e.cgroupRoot)
		if len(left) == 0 || time.Now().After(waitForNothing) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("processes left after the kubelet and cricketd stopped: %v", left)
	}
	if m := mountsUnder(e.dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", e.dir, m)
	}
	if after := readSysctls(t); fmt.Sprint(after) != fmt.Sprint(hostSysctls) {
		t.Errorf("host sysctls changed: before %v, after %v", hostSysctls, after)
	}
}

func TestCriErrors(t *testing.T) {
	const (
		gone  = "3b582a36720258c0b4bd8e3e150001d568e73b3feb06dbfcc394f9f399bcc850"
		other = "f9ad3c484e198cb7ce9d1a701ef485587cad1052457c6f91b30627153f4e0728"
	)
	notFound := func(id string) string {
		return `E1126 remote_runtime.go:657] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \"` + id + `\": not found" containerID="` + id + `"`
	}
	daemonLog := `I1126 remove.go:58] "container removed" rpc="RemoveContainer" requestID="49d7104877b4" containerID="` + gone + `"`
	cases := []struct {
		desc           string
		log            string
		bad, tolerated int
	}{
		{desc: "clean", log: "I1126 all good\n"},
		{desc: "NotFound of a container cricketd removed", log: notFound(gone), tolerated: 1},
		{desc: "NotFound of a container never removed", log: notFound(other), bad: 1},
		{desc: "the kubelet's PodSandboxStats probe", log: `E1126 remote_runtime.go:1012] "PodSandbox from runtime service failed" err="rpc error: code = InvalidArgument desc = pod sandbox ID is required: invalid argument" podSandboxID=""`, tolerated: 1},
		{desc: "PodSandboxStats of a real sandbox", log: `E1126 remote_runtime.go:1012] "PodSandbox from runtime service failed" err="rpc error: code = InvalidArgument desc = pod sandbox ID is required: invalid argument" podSandboxID="abc"`, bad: 1},
		{desc: "canceled by the kubelet", log: `E1126 remote_runtime.go:280] "Version from runtime service failed" err="rpc error: code = Canceled desc = context canceled"`, tolerated: 1},
		{desc: "canceled by the runtime", log: `E1126 remote_runtime.go:280] "Version from runtime service failed" err="rpc error: code = Canceled desc = shutting down"`, bad: 1},
		{desc: "any other code", log: `E1126 "StartContainer from runtime service failed" err="rpc error: code = Unknown desc = boom"`, bad: 1},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			bad, tolerated := criErrors(tc.log, removedContainers(daemonLog))
			if len(bad) != tc.bad || len(tolerated) != tc.tolerated {
				t.Errorf("bad %q, tolerated %q; want %d and %d", bad, tolerated, tc.bad, tc.tolerated)
			}
		})
	}
}
