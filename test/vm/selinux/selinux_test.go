// Package selinux_test checks Cricket's SELinux labels on a node with
// SELinux enforcing, against a running cricketd: the test/vm SELinux node
// (make vm-selinux; suites/selinux.sh runs these tests with the daemon of
// cricketd.service). What it reads is the kernel's view: the label of the
// container's process (/proc/<pid>/attr/current), the context its rootfs
// is mounted with (mountinfo), the labels of the files on the host. On a
// host without SELinux every test skips, saying so.
//
// Environment: CRICKET_ROOT_TESTS=1 and root; CRICKET_SELINUX_ENDPOINT, the
// daemon's CRI socket (unix:///run/cricket/cricket.sock); and
// CRICKET_SELINUX_IMAGE, a pulled busybox image.
package selinux_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	goselinux "github.com/opencontainers/selinux/go-selinux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/test/testutil"
)

type env struct {
	t     *testing.T
	rt    runtimeapi.RuntimeServiceClient
	image string
}

// setup skips unless this is a root test run on a host with SELinux and a
// daemon to test; it never fails for what the host lacks.
func setup(t *testing.T) *env {
	t.Helper()
	testutil.RequireRoot(t)
	if !goselinux.GetEnabled() {
		t.Skip("SELinux is not enabled on this host: these tests run on the test/vm SELinux node (make vm-selinux)")
	}
	endpoint, image := os.Getenv("CRICKET_SELINUX_ENDPOINT"), os.Getenv("CRICKET_SELINUX_IMAGE")
	if endpoint == "" || image == "" {
		t.Skip("no daemon to test: set CRICKET_SELINUX_ENDPOINT (its CRI socket) and CRICKET_SELINUX_IMAGE (a pulled busybox), as test/vm/suites/selinux.sh does")
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &env{t: t, rt: runtimeapi.NewRuntimeServiceClient(conn), image: image}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// pod runs a pod sandbox with the SELinux options o (nil: none), removed
// when the test ends.
func (e *env) pod(name string, o *runtimeapi.SELinuxOption, privileged bool) (string, *runtimeapi.PodSandboxConfig) {
	t := e.t
	t.Helper()
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "selinux", Uid: name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)},
		Hostname:     name,
		LogDirectory: filepath.Join("/var/log/pods", name),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			SelinuxOptions: o, Privileged: privileged,
		}},
	}
	r, err := e.rt.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox %s: %v", name, err)
	}
	id := r.GetPodSandboxId()
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = e.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		_, _ = e.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
	})
	return id, cfg
}

// container creates and starts a sleeping busybox container in the pod.
func (e *env) container(podID string, podCfg *runtimeapi.PodSandboxConfig, name string, o *runtimeapi.SELinuxOption, privileged bool, mounts ...*runtimeapi.Mount) string {
	t := e.t
	t.Helper()
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: e.image},
		Command:  []string{"sleep", "3600"},
		LogPath:  name + ".log",
		Mounts:   mounts,
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			SelinuxOptions: o, Privileged: privileged,
		}},
	}
	r, err := e.rt.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", name, err)
	}
	if _, err := e.rt.StartContainer(ctx(t), &runtimeapi.StartContainerRequest{ContainerId: r.GetContainerId()}); err != nil {
		t.Fatalf("StartContainer %s: %v", name, err)
	}
	return r.GetContainerId()
}

// pid is the container's process on the host.
func (e *env) pid(id string) int {
	t := e.t
	t.Helper()
	st, err := e.rt.ContainerStatus(ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil || info.Pid <= 0 {
		t.Fatalf("no pid in the status of container %s: %q, %v", id, st.GetInfo()["info"], err)
	}
	return info.Pid
}

// exec runs cmd in the container: its output and exit code.
func (e *env) exec(id string, cmd ...string) (string, int32) {
	t := e.t
	t.Helper()
	r, err := e.rt.ExecSync(ctx(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 60})
	if err != nil {
		t.Fatalf("exec %v in %s: %v", cmd, id, err)
	}
	return string(r.GetStdout()) + string(r.GetStderr()), r.GetExitCode()
}

func (e *env) mustExec(id string, cmd ...string) string {
	e.t.Helper()
	out, code := e.exec(id, cmd...)
	if code != 0 {
		e.t.Fatalf("exec %v in %s: exit %d: %s", cmd, id, code, out)
	}
	return out
}

// processLabel is the kernel's label of process pid.
func processLabel(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/attr/current", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(b), "\x00\n")
}

// rootContext is the context= option the root of pid's mount namespace is
// mounted with, "" without one.
func rootContext(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != "/" {
			continue
		}
		if m := regexp.MustCompile(`context="([^"]*)"`).FindStringSubmatch(line); m != nil {
			return m[1]
		}
		return ""
	}
	t.Fatalf("no root mount in /proc/%d/mountinfo", pid)
	return ""
}

var mcsLevel = regexp.MustCompile(`^s0:c[0-9]+,c[0-9]+$`)

// TestProcessAndMountLabels: a container runs at the process label its
// pod's SELinuxOption gives (container_t at the pod's level), its rootfs is
// mounted with the matching mount label (container_file_t), and what a
// container reads to work is readable: its entrypoint, its pod's hostname,
// hosts and resolv.conf, and the pod init at PID 1 of the pod's shared PID
// namespace, which runs at the pod's label. A privileged container gets
// the policy's spc_t.
func TestProcessAndMountLabels(t *testing.T) {
	e := setup(t)

	t.Run("pod level from the SELinuxOption", func(t *testing.T) {
		e := &env{t: t, rt: e.rt, image: e.image}
		podID, podCfg := e.pod("labels", &runtimeapi.SELinuxOption{Level: "s0:c101,c202"}, false)
		id := e.container(podID, podCfg, "c", nil, false)
		pid := e.pid(id)
		if got, want := processLabel(t, pid), "system_u:system_r:container_t:s0:c101,c202"; got != want {
			t.Errorf("process label %q, want %q", got, want)
		}
		if got, want := rootContext(t, pid), "system_u:object_r:container_file_t:s0:c101,c202"; got != want {
			t.Errorf("rootfs mounted with context %q, want %q", got, want)
		}
		if got := strings.TrimRight(e.mustExec(id, "cat", "/proc/self/attr/current"), "\x00\n"); got != "system_u:system_r:container_t:s0:c101,c202" {
			t.Errorf("the container sees itself as %q", got)
		}
		e.mustExec(id, "touch", "/written-by-the-container")
		if got := strings.TrimSpace(e.mustExec(id, "cat", "/etc/hostname")); got != "labels" {
			t.Errorf("/etc/hostname %q", got)
		}
		e.mustExec(id, "cat", "/etc/hosts", "/etc/resolv.conf")
		// PID 1 is the pod init: at the pod's label, readable.
		if got := strings.TrimRight(e.mustExec(id, "cat", "/proc/1/attr/current"), "\x00\n"); got != "system_u:system_r:container_t:s0:c101,c202" {
			t.Errorf("the pod init (PID 1) runs as %q", got)
		}
		if out := e.mustExec(id, "cat", "/proc/1/mountinfo"); !strings.Contains(out, `context="system_u:object_r:container_file_t:s0:c101,c202"`) {
			t.Errorf("/proc/1/mountinfo shows no rootfs mounted with the pod's context")
		}
	})

	t.Run("a fresh level without options", func(t *testing.T) {
		e := &env{t: t, rt: e.rt, image: e.image}
		podID, podCfg := e.pod("fresh", nil, false)
		id := e.container(podID, podCfg, "c", nil, false)
		pid := e.pid(id)
		l := processLabel(t, pid)
		if !strings.HasPrefix(l, "system_u:system_r:container_t:") || !mcsLevel.MatchString(selinux.Level(l)) {
			t.Fatalf("process label %q, want container_t at a level with two categories", l)
		}
		if got, want := rootContext(t, pid), "system_u:object_r:container_file_t:"+selinux.Level(l); got != want {
			t.Errorf("rootfs mounted with context %q, want %q", got, want)
		}
	})

	t.Run("privileged gets spc_t", func(t *testing.T) {
		e := &env{t: t, rt: e.rt, image: e.image}
		podID, podCfg := e.pod("privileged", nil, true)
		id := e.container(podID, podCfg, "c", nil, true)
		if l := processLabel(t, e.pid(id)); !strings.Contains(l, ":system_r:spc_t:") {
			t.Errorf("privileged container runs as %q, want spc_t", l)
		}
		e.mustExec(id, "cat", "/proc/1/mountinfo")
	})
}

// TestCustomLevel: pods get distinct levels; a level the pod or the
// container names is the one it runs at; a pod's containers share its
// level unless they name their own.
func TestCustomLevel(t *testing.T) {
	e := setup(t)
	a, aCfg := e.pod("level-a", &runtimeapi.SELinuxOption{Level: "s0:c11,c22"}, false)
	b, bCfg := e.pod("level-b", nil, false)
	c, cCfg := e.pod("level-c", nil, false)
	a1 := e.container(a, aCfg, "a1", nil, false)
	a2 := e.container(a, aCfg, "a2", &runtimeapi.SELinuxOption{Level: "s0:c33,c44"}, false)
	a3 := e.container(a, aCfg, "a3", nil, false)
	b1 := e.container(b, bCfg, "b1", nil, false)
	c1 := e.container(c, cCfg, "c1", nil, false)
	labels := map[string]string{}
	for name, id := range map[string]string{"a1": a1, "a2": a2, "a3": a3, "b1": b1, "c1": c1} {
		labels[name] = processLabel(t, e.pid(id))
		t.Logf("%s: %s", name, labels[name])
	}
	if got := selinux.Level(labels["a1"]); got != "s0:c11,c22" {
		t.Errorf("a1 at %q, want the pod's s0:c11,c22", got)
	}
	if labels["a3"] != labels["a1"] {
		t.Errorf("containers of one pod at different labels: %q, %q", labels["a1"], labels["a3"])
	}
	if got := selinux.Level(labels["a2"]); got != "s0:c33,c44" {
		t.Errorf("a2 at %q, want its own s0:c33,c44", got)
	}
	lb, lc := selinux.Level(labels["b1"]), selinux.Level(labels["c1"])
	if !mcsLevel.MatchString(lb) || !mcsLevel.MatchString(lc) || lb == lc || lb == "s0:c11,c22" {
		t.Errorf("pods without options at %q and %q, want distinct fresh levels", lb, lc)
	}
	// A container's own level names its rootfs's context too.
	if got, want := rootContext(t, e.pid(a2)), "system_u:object_r:container_file_t:s0:c33,c44"; got != want {
		t.Errorf("a2's rootfs mounted with %q, want %q", got, want)
	}
	e.mustExec(a2, "touch", "/ok")
	// A level that is not one is refused at create.
	_, err := e.rt.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{PodSandboxId: a, SandboxConfig: aCfg, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "bad"}, Image: &runtimeapi.ImageSpec{Image: e.image}, Command: []string{"true"},
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{SelinuxOptions: &runtimeapi.SELinuxOption{Level: "s0:c1,c2:bad"}}},
	}})
	if err == nil {
		t.Error("a bad level was accepted")
	}
}

// TestVolumeRelabel: a host volume mounted with selinux_relabel is given
// the container's mount label, so the container reads and writes it; a
// container of another pod, at another level, is refused it.
func TestVolumeRelabel(t *testing.T) {
	e := setup(t)
	// Where the kubelet keeps pod volumes, which the policy labels as
	// container content (the engine may relabel nothing else).
	pods := "/var/lib/kubelet/pods"
	if err := os.MkdirAll(pods, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("restorecon", "-R", "/var/lib/kubelet").CombinedOutput(); err != nil {
		t.Fatalf("restorecon /var/lib/kubelet: %v: %s", err, out)
	}
	dir, err := os.MkdirTemp(pods, "cricket-selinux-vol-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "from-host"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, aCfg := e.pod("vol-a", &runtimeapi.SELinuxOption{Level: "s0:c51,c52"}, false)
	b, bCfg := e.pod("vol-b", &runtimeapi.SELinuxOption{Level: "s0:c61,c62"}, false)
	owner := e.container(a, aCfg, "owner", nil, false, &runtimeapi.Mount{ContainerPath: "/vol", HostPath: dir, SelinuxRelabel: true})
	if got := strings.TrimSpace(e.mustExec(owner, "cat", "/vol/from-host")); got != "host" {
		t.Errorf("read %q from the volume", got)
	}
	e.mustExec(owner, "sh", "-c", "echo container >/vol/from-container")
	for _, f := range []string{dir, filepath.Join(dir, "from-host"), filepath.Join(dir, "from-container")} {
		l, err := goselinux.FileLabel(f)
		if err != nil {
			t.Fatal(err)
		}
		if l != "system_u:object_r:container_file_t:s0:c51,c52" {
			t.Errorf("%s is %q, want the pod's mount label", f, l)
		}
	}
	other := e.container(b, bCfg, "other", nil, false, &runtimeapi.Mount{ContainerPath: "/vol", HostPath: dir})
	out, code := e.exec(other, "cat", "/vol/from-host")
	if code == 0 {
		t.Errorf("a container at another level read the volume: %q", out)
	} else if !strings.Contains(out, "Permission denied") {
		t.Errorf("a container at another level failed otherwise than Permission denied: exit %d: %s", code, out)
	}
	if out, code := e.exec(other, "sh", "-c", "echo x >/vol/intruder"); code == 0 {
		t.Errorf("a container at another level wrote to the volume: %q", out)
	}
}
