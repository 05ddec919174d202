package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// The field tests (security_*_test.go, resources_*_test.go) run one table
// of CRI fields on every installed runtime handler. Their subtests are named
// <Test>/<handler>/<field>, so that `go test -v` output is the evidence
// docs/security-fields.md is checked against.

const (
	critoolsImages  = "gcr.io/k8s-staging-cri-tools/"
	imgUserName     = critoolsImages + "test-image-user-username:latest"    // USER www-data
	imgUserUIDGroup = critoolsImages + "test-image-user-uid-group:latest"   // USER 1003:1004
	imgGroupInImage = critoolsImages + "test-image-predefined-group:latest" // USER 1000, in group 50000
	imgVolume       = critoolsImages + "test-image-1:latest"                // busybox plus /test-image-1
	imgVolumeMarker = "/test-image-1"
	secTestScript   = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
)

// secImages are the images the field tests pull.
var secImages = []string{busyboxRef, imgUserName, imgUserUIDGroup, imgGroupInImage, imgVolume, imagebuild.ArtifactRef, multiArchBusybox}

// multiArchBusybox is an index of linux/amd64 and a linux/arm64 stub.
const multiArchBusybox = "docker.io/library/busybox:latest"

var (
	secMirrorOnce sync.Once
	secMirror     *imagebuild.Mirror
	secMirrorErr  error
)

// securityMirror serves secImages from 127.0.0.1, built once per binary.
func securityMirror(t *testing.T) *imagebuild.Mirror {
	t.Helper()
	secMirrorOnce.Do(func() { secMirror, secMirrorErr = harness.Mirror(secImages...) })
	if secMirrorErr != nil {
		t.Fatal(secMirrorErr)
	}
	return secMirror
}

// startSecurityDaemon starts a daemon with every handler configured, extra
// appended to its cricket.toml, and secImages pulled.
func startSecurityDaemon(t *testing.T, extra string) *harness.Daemon {
	t.Helper()
	return startSecurityDaemonWith(t, extra, false)
}

// startSecurityDaemonWith is startSecurityDaemon; searchable makes the
// test's temp dirs above the daemon's state dir searchable by others (as
// /run is), which podUserns pods need (see startUsernsDaemon).
func startSecurityDaemonWith(t *testing.T, extra string, searchable bool) *harness.Daemon {
	t.Helper()
	m := securityMirror(t)
	d := newDaemon(t)
	for p := d.Dir; searchable && strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	if cfg := extra + "\n" + handlerConfig(t); strings.TrimSpace(cfg) != "" {
		if err := os.WriteFile(d.Config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.Start("--registry-config-path", certs)
	t.Cleanup(func() { removeAllPods(t, d) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, img := range secImages {
		if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img}}); err != nil {
			t.Fatalf("pull %s: %v", img, err)
		}
	}
	return d
}

// secHandler is one runtime handler the tables run on.
type secHandler struct {
	name    string // subtest name
	handler string // RuntimeHandler of the pods ("" is the built-in one)
}

var secHandlers = []secHandler{{"cricket", ""}, {"runc", "runc"}, {"crun", "crun"}}

// Pod variants a case can ask for.
const (
	podDefault    = ""           // pid CONTAINER, everything else POD
	podPrivileged = "privileged" // a privileged sandbox (privileged containers need one)
	podPidPod     = "pid-pod"
	podPidNode    = "pid-node"
	podIpcNode    = "ipc-node"
	podNetNode    = "net-node"
	podResources  = "resources" // resources and overhead set, as the kubelet sends them
	podUserns     = "userns"    // hostUsers: false (needs the handler's support and searchable temp dirs)
	podUsernsHost = "userns-net-node"
)

// podResourcesMemory is the pod cgroup memory limit podResources asks for:
// its resources plus its overhead.
const podResourcesMemory = 256<<20 + 16<<20

func podVariant(t *testing.T, name, variant string) *runtimeapi.PodSandboxConfig {
	cfg := testPod(t, name, runtimeapi.NamespaceMode_CONTAINER)
	ns := cfg.Linux.SecurityContext.NamespaceOptions
	switch variant {
	case podPrivileged:
		cfg.Linux.SecurityContext.Privileged = true
	case podPidPod:
		ns.Pid = runtimeapi.NamespaceMode_POD
	case podPidNode:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case podIpcNode:
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	case podNetNode:
		ns.Network = runtimeapi.NamespaceMode_NODE
	case podResources:
		cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 256 << 20, CpuShares: 512}
		cfg.Linux.Overhead = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 << 20, CpuShares: 256}
	case podUserns, podUsernsHost:
		ns.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: usernsMapping(usernsHostID), Gids: usernsMapping(usernsHostID)}
		if variant == podUsernsHost {
			ns.Network = runtimeapi.NamespaceMode_NODE
		}
	case podDefault:
	default:
		t.Fatalf("unknown pod variant %q", variant)
	}
	return cfg
}

// fieldCase is one row of a field table.
type fieldCase struct {
	desc  string
	pod   string // pod variant
	image string // default busybox
	// ctr changes the container config (a sleeping busybox shell).
	ctr func(t *testing.T, e *secEnv, c *runtimeapi.ContainerConfig)
	// wantCode, when not OK, is the code CreateContainer (or, failing
	// that, StartContainer) must fail with.
	wantCode codes.Code
	// wantErr is a substring the rejection must carry.
	wantErr string
	// check asserts the effect on the running container.
	check func(t *testing.T, e *secEnv, id string)
	// skip returns why the case cannot run on e's handler, or "".
	skip func(e *secEnv) string
}

// secEnv is one handler's daemon and pods, shared by a table's cases.
type secEnv struct {
	ht      *testing.T // the handler-level test: owns the pods' temp dirs
	d       *harness.Daemon
	rt      runtimeapi.RuntimeServiceClient
	h       secHandler
	pods    map[string]string
	podCfgs map[string]*runtimeapi.PodSandboxConfig
	n       int
}

// runFieldCases runs cases on every installed handler of d.
func runFieldCases(t *testing.T, d *harness.Daemon, cases []fieldCase) {
	for _, h := range secHandlers {
		t.Run(h.name, func(t *testing.T) {
			if why := handlerAvailable(h.handler); why != "" {
				t.Skip(why)
			}
			e := &secEnv{ht: t, d: d, rt: d.Runtime(), h: h, pods: map[string]string{}, podCfgs: map[string]*runtimeapi.PodSandboxConfig{}}
			t.Cleanup(e.removePods)
			for _, tc := range cases {
				t.Run(tc.desc, func(t *testing.T) { e.run(t, tc) })
			}
		})
	}
}

// pod returns the id and config of e's pod of a variant, started once.
func (e *secEnv) pod(t *testing.T, variant string) (string, *runtimeapi.PodSandboxConfig) {
	t.Helper()
	if id, ok := e.pods[variant]; ok {
		return id, e.podCfgs[variant]
	}
	name := "sec-" + e.h.name
	if variant != "" {
		name += "-" + variant
	}
	cfg := podVariant(e.ht, name, variant)
	resp, err := e.rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: e.h.handler})
	if err != nil {
		t.Fatalf("RunPodSandbox %s: %v", variant, err)
	}
	e.pods[variant], e.podCfgs[variant] = resp.PodSandboxId, cfg
	return resp.PodSandboxId, cfg
}

// removePods removes e's pods and checks that they left nothing on the
// host (mounts, processes, pod inits, cgroups, state dirs).
func (e *secEnv) removePods() {
	ctx := context.Background()
	inits := podInits(e.d)
	var ids []string
	for _, id := range e.pods {
		ids = append(ids, id)
		_, _ = e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			e.ht.Errorf("remove pod %s: %v", id, err)
		}
	}
	if l := leaks(e.ht, e.d, ids, inits); len(l) > 0 {
		e.ht.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// newConfig is a sleeping busybox container with a name unique in e.
func (e *secEnv) newConfig(desc string) *runtimeapi.ContainerConfig {
	e.n++
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(desc), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	return testContainer(fmt.Sprintf("%s-%d", name, e.n), secTestScript)
}

func (e *secEnv) run(t *testing.T, tc fieldCase) {
	if tc.skip != nil {
		if why := tc.skip(e); why != "" {
			t.Skip(why)
		}
	}
	podID, podCfg := e.pod(t, tc.pod)
	cfg := e.newConfig(tc.desc)
	if tc.image != "" {
		cfg.Image = &runtimeapi.ImageSpec{Image: tc.image}
	}
	if tc.ctr != nil {
		tc.ctr(t, e, cfg)
	}
	id, err := e.createStart(podID, podCfg, cfg)
	if id != "" {
		t.Cleanup(func() { e.remove(id) })
	}
	if tc.wantCode != codes.OK {
		if status.Code(err) != tc.wantCode || !strings.Contains(fmt.Sprint(err), tc.wantErr) {
			t.Fatalf("err = %v (code %v), want code %v with %q", err, status.Code(err), tc.wantCode, tc.wantErr)
		}
		t.Logf("rejected as wanted: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
	if tc.check != nil {
		tc.check(t, e, id)
	}
}

// createStart creates and starts a container; the id is returned whenever
// the container was created.
func (e *secEnv) createStart(podID string, podCfg *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) (string, error) {
	ctx := context.Background()
	resp, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
	if err != nil {
		return "", fmt.Errorf("CreateContainer: %w", err)
	}
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		return resp.ContainerId, fmt.Errorf("StartContainer: %w", err)
	}
	return resp.ContainerId, nil
}

// start creates and starts an extra container in a variant's pod.
func (e *secEnv) start(t *testing.T, variant string, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	podID, podCfg := e.pod(t, variant)
	id, err := e.createStart(podID, podCfg, cfg)
	if id != "" {
		t.Cleanup(func() { e.remove(id) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *secEnv) remove(id string) {
	ctx := context.Background()
	_, _ = e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 0})
	_, _ = e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
}

// sh runs a shell script in the container and returns its stdout and exit
// code; stderr is appended to the output of a failed command.
func (e *secEnv) sh(t *testing.T, id, script string) (string, int32) {
	t.Helper()
	resp, err := e.rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", script}, Timeout: 20})
	if err != nil {
		t.Fatalf("exec %q: %v", script, err)
	}
	out := strings.TrimSpace(string(resp.Stdout))
	if resp.ExitCode != 0 {
		out = strings.TrimSpace(out + "\n" + string(resp.Stderr))
	}
	return out, resp.ExitCode
}

// mustSh is sh that fails the test on a non-zero exit.
func (e *secEnv) mustSh(t *testing.T, id, script string) string {
	t.Helper()
	out, code := e.sh(t, id, script)
	if code != 0 {
		t.Fatalf("exec %q: exit %d: %s", script, code, out)
	}
	return out
}

// wantSh asserts the output of a script.
func (e *secEnv) wantSh(t *testing.T, id, script, want string) {
	t.Helper()
	if got := e.mustSh(t, id, script); got != want {
		t.Errorf("%s = %q, want %q", script, got, want)
	}
}

// wantFails asserts that a script exits non-zero, with msg in its output
// when msg is set.
func (e *secEnv) wantFails(t *testing.T, id, script, msg string) {
	t.Helper()
	out, code := e.sh(t, id, script)
	if code == 0 || !strings.Contains(out, msg) {
		t.Errorf("%s: exit %d, output %q; want a failure with %q", script, code, out, msg)
	}
}

// procStatus returns a field of the container's /proc/self/status as seen
// by a process exec'd into it.
func (e *secEnv) procStatus(t *testing.T, id, field string) string {
	t.Helper()
	return e.mustSh(t, id, "sed -n 's/^"+field+":[[:space:]]*//p' /proc/self/status")
}

// capMask parses a Cap* line of /proc/<pid>/status.
func capMask(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", s, err)
	}
	return v
}

// mountLine returns the line of the container's mountinfo whose mount point
// is target, or "".
func (e *secEnv) mountLine(t *testing.T, id, target string) string {
	t.Helper()
	out := e.mustSh(t, id, "cat /proc/self/mountinfo")
	var found string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == target {
			found = line // the last mount on a target is the visible one
		}
	}
	return found
}

// mountOpts returns the per-mount options (field 6) of a mountinfo line.
func mountOpts(line string) []string {
	f := strings.Fields(line)
	if len(f) < 6 {
		return nil
	}
	return strings.Split(f[5], ",")
}

// hasOpt reports whether a mountinfo line has a per-mount option.
func hasOpt(line, opt string) bool {
	for _, o := range mountOpts(line) {
		if o == opt {
			return true
		}
	}
	return false
}

// nsLink returns the target of /proc/self/ns/<ns> inside the container.
func (e *secEnv) nsLink(t *testing.T, id, ns string) string {
	t.Helper()
	return e.mustSh(t, id, "readlink /proc/self/ns/"+ns)
}

// hostNS returns the target of /proc/self/ns/<ns> of this test, which runs
// in the host's namespaces.
func hostNS(t *testing.T, ns string) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// cgroupDir returns the host directory of the container's cgroup in a v1
// controller hierarchy (or the v2 one for controller ""), read from the
// container's /proc/self/cgroup.
func (e *secEnv) cgroupDir(t *testing.T, id, controller string) string {
	t.Helper()
	out := e.mustSh(t, id, "cat /proc/self/cgroup")
	for _, line := range strings.Split(out, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return filepath.Join("/sys/fs/cgroup", controller, parts[2])
			}
		}
	}
	t.Fatalf("container has no %s cgroup:\n%s", controller, out)
	return ""
}

// hostFile reads a host file, trimmed.
func hostFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// wantHostFile asserts a host file's content.
func wantHostFile(t *testing.T, p, want string) {
	t.Helper()
	if got := hostFile(t, p); got != want {
		t.Errorf("%s = %q, want %q", p, got, want)
	}
}

// onlyOn skips a case except on the named handlers.
func onlyOn(why string, names ...string) func(e *secEnv) string {
	return func(e *secEnv) string {
		for _, n := range names {
			if e.h.name == n {
				return ""
			}
		}
		return why
	}
}

func sc(c *runtimeapi.ContainerConfig) *runtimeapi.LinuxContainerSecurityContext {
	if c.Linux == nil {
		c.Linux = &runtimeapi.LinuxContainerConfig{}
	}
	if c.Linux.SecurityContext == nil {
		c.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{}
	}
	return c.Linux.SecurityContext
}

func resources(c *runtimeapi.ContainerConfig) *runtimeapi.LinuxContainerResources {
	if c.Linux == nil {
		c.Linux = &runtimeapi.LinuxContainerConfig{}
	}
	if c.Linux.Resources == nil {
		c.Linux.Resources = &runtimeapi.LinuxContainerResources{}
	}
	return c.Linux.Resources
}

// bundleSpec reads the OCI spec cricketd wrote for the container, which is
// what its runtime handler was given.
func (e *secEnv) bundleSpec(t *testing.T, id string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.d.State, "containers", id, "config.json"))
	if err != nil {
		t.Fatalf("bundle of container %s: %v", id, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatalf("bundle of container %s: %v", id, err)
	}
	if spec.Process == nil {
		t.Fatalf("bundle of container %s has no process", id)
	}
	return &spec
}
