package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// podImage is the image the pod tests run: busybox, served by the shared
// mirror under its registry.k8s.io name.
const podImage = busyboxRef

// startPodDaemon starts a daemon that can pull from the shared mirror and
// pulls podImage.
func startPodDaemon(t *testing.T) *harness.Daemon {
	t.Helper()
	m := sharedMirror(t)
	d := startImageDaemon(t, m.Addrs())
	t.Cleanup(func() { removeAllPods(t, d) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: podImage}}); err != nil {
		t.Fatalf("pull %s: %v", podImage, err)
	}
	return d
}

// removeAllPods removes every pod of a running daemon, so that a test that
// fails half-way leaves no namespaces, mounts or processes on the host. It
// runs before the daemon is stopped (cleanups run last-registered first).
func removeAllPods(t *testing.T, d *harness.Daemon) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := d.Runtime()
	pods, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			t.Errorf("clean up pod %s: %v", p.Id, err)
		}
	}
}

// testPod is a pod config with its own log directory. Pid namespace mode
// CONTAINER gives each container pid 1, as the kubelet does by default.
func testPod(t *testing.T, name string, pid runtimeapi.NamespaceMode) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "cricket-test", Uid: "uid-" + name, Attempt: 0},
		Hostname:     name + "-host",
		LogDirectory: filepath.Join(t.TempDir(), "logs"),
		Labels:       map[string]string{"test": t.Name()},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: pid},
		}},
	}
}

// testContainer runs a shell script in podImage, logging to name.log.
func testContainer(name, script string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: podImage},
		Command:  []string{"sh", "-c", script},
		LogPath:  name + ".log",
	}
}

func runPod(t *testing.T, rt runtimeapi.RuntimeServiceClient, cfg *runtimeapi.PodSandboxConfig, handler string) string {
	t.Helper()
	resp, err := rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	return resp.PodSandboxId
}

func startContainer(t *testing.T, rt runtimeapi.RuntimeServiceClient, podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	ctx := context.Background()
	resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", cfg.Metadata.Name, err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatalf("StartContainer %s: %v", cfg.Metadata.Name, err)
	}
	return resp.ContainerId
}

func containerStatus(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	resp, err := rt.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStatus %s: %v", id, err)
	}
	return resp.Status
}

// execSync runs cmd in the container and returns its stdout; a non-zero
// exit fails the test.
func execSync(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string, cmd ...string) string {
	t.Helper()
	resp, err := rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 10})
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	if resp.ExitCode != 0 {
		t.Fatalf("exec %q: exit %d, stderr %q", cmd, resp.ExitCode, resp.Stderr)
	}
	return strings.TrimSpace(string(resp.Stdout))
}

// logContains is nil when the messages of the CRI log file at path
// contain want (conditions for testutil.Eventually).
func logContains(t *testing.T, path, want string) error {
	if got := logMessages(t, path); !strings.Contains(got, want) {
		return fmt.Errorf("log %s has %q", path, got)
	}
	return nil
}

// stateIs is nil when a pod or container is in the state wanted.
func stateIs[S comparable](got, want S) error {
	if got != want {
		return fmt.Errorf("state %v", got)
	}
	return nil
}

// logMessages returns the messages of a CRI log file, joined by newlines.
func logMessages(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var msgs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// RFC3339Nano stream P|F message
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) == 4 {
			msgs = append(msgs, parts[3])
		}
	}
	return strings.Join(msgs, "\n")
}

// writeJSON writes v to a file in dir for crictl.
func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// leaks lists what a daemon left on the host for its pods: mounts under its
// directories, processes naming them, pod inits, pod cgroups, and pod or
// container state dirs.
func leaks(t *testing.T, d *harness.Daemon, podIDs, podInits []string) []string {
	t.Helper()
	var out []string
	// The state dir may lie outside d.Dir (on a tmpfs of its own).
	ours := func(s string) bool { return strings.Contains(s, d.Dir) || strings.Contains(s, d.State+"/") }
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if ours(line) {
			out = append(out, "mount: "+line)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		if ours(string(cmdline)) && !isDaemon(d, p) {
			out = append(out, "process: "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	for _, pid := range podInits {
		if cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil && strings.Contains(string(cmdline), "__podinit") {
			out = append(out, "pod init: "+pid)
		}
	}
	for _, id := range podIDs {
		for _, dir := range podCgroupsLeft("pod-" + id) {
			out = append(out, dir)
			out = append(out, cgroupTasks(dir)...)
		}
	}
	for _, sub := range []string{"pods", "containers"} {
		entries, _ := os.ReadDir(filepath.Join(d.State, sub))
		for _, e := range entries {
			out = append(out, "state dir: "+filepath.Join(sub, e.Name()))
		}
	}
	return out
}

// podCgroupsLeft lists the cgroups named name* under /cricket (Cricket's
// own pod cgroups) in every hierarchy: each v1 controller's and the v2 one.
func podCgroupsLeft(name string) []string {
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/cricket/" + name + "*")
	v2, _ := filepath.Glob("/sys/fs/cgroup/cricket/" + name + "*")
	return append(v1, v2...)
}

// cgroupTasks says what keeps a cgroup left behind busy: for it and each
// cgroup below it, its cgroup v2 state (cgroup.type, cgroup.events,
// cgroup.stat) and each process in it (cgroup.procs, cgroup.threads):
// "  pid N in SUBDIR: comm, state, kernel wait channel".
func cgroupTasks(dir string) []string {
	var out []string
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if _, err := os.Stat(filepath.Join(p, "cgroup.controllers")); err == nil {
			out = append(out, fmt.Sprintf("  %s: type %s; events %s; stat %s", rel,
				read(filepath.Join(p, "cgroup.type")), read(filepath.Join(p, "cgroup.events")), read(filepath.Join(p, "cgroup.stat"))))
		}
		seen := map[string]bool{}
		for _, f := range []string{"cgroup.procs", "cgroup.threads", "tasks"} {
			raw, err := os.ReadFile(filepath.Join(p, f))
			if err != nil {
				continue
			}
			for _, pid := range strings.Fields(string(raw)) {
				if seen[pid] {
					continue
				}
				seen[pid] = true
				comm, _ := os.ReadFile("/proc/" + pid + "/comm")
				wchan, _ := os.ReadFile("/proc/" + pid + "/wchan")
				state := ""
				if status, err := os.ReadFile("/proc/" + pid + "/status"); err == nil {
					for _, l := range strings.Split(string(status), "\n") {
						if v, ok := strings.CutPrefix(l, "State:"); ok {
							state = strings.TrimSpace(v)
						}
					}
				}
				out = append(out, fmt.Sprintf("  pid %s in %s (%s): %s, state %s, wchan %s", pid, rel, f, strings.TrimSpace(string(comm)), state, wchan))
			}
		}
		return nil
	})
	return out
}

// isDaemon reports whether the /proc/<pid>/cmdline path p is the daemon's.
func isDaemon(d *harness.Daemon, p string) bool {
	return d.Pid() != 0 && p == fmt.Sprintf("/proc/%d/cmdline", d.Pid())
}

// podInits returns the pids of the pod inits of a daemon's pods.
func podInits(d *harness.Daemon) []string {
	files, _ := filepath.Glob(filepath.Join(d.State, "pods", "*", "ns", "pid.init"))
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	return out
}

// handlerAvailable says why a runtime handler cannot run here, or "".
func handlerAvailable(handler string) string {
	bins := map[string]string{"runc": "/usr/sbin/runc", "crun": "/usr/bin/crun"}
	bin, ok := bins[handler]
	if !ok {
		return ""
	}
	if _, err := exec.LookPath(bin); err != nil {
		return bin + " is not installed"
	}
	return ""
}

// crunNeedsWrapper: crun 1.8 refuses a hybrid host whose cgroup2 mount has
// controllers; such hosts configure crun through deploy/hybrid/crun-hybrid.
func crunNeedsWrapper() bool {
	data, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	return hybridCgroups() && err == nil && strings.TrimSpace(string(data)) != ""
}

// handlerConfig is the cricket.toml that test daemons get: on a hybrid host
// the crun handler runs through the wrapper that deploy/ ships for it.
func handlerConfig(t *testing.T) string {
	if !crunNeedsWrapper() {
		return ""
	}
	wrapper, err := filepath.Abs("../../deploy/hybrid/crun-hybrid")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[runtime.handlers.crun]\ntype = \"runc\"\npath = %q\n", wrapper)
}

func hybridCgroups() bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	v1, v2 := false, false
	for _, line := range strings.Split(string(data), "\n") {
		if _, after, ok := strings.Cut(line, " - "); ok {
			v1 = v1 || strings.HasPrefix(after, "cgroup ")
			v2 = v2 || strings.HasPrefix(after, "cgroup2 ")
		}
	}
	return v1 && v2
}
