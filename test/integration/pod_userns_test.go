package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// usernsHostID is where container root lands on the host in these tests.
const usernsHostID = 300000

func usernsMapping(host uint32) []*runtimeapi.IDMapping {
	return []*runtimeapi.IDMapping{{ContainerId: 0, HostId: host, Length: 65536}}
}

// usernsPod is testPod with hostUsers: false.
func usernsPod(t *testing.T, name string, pid runtimeapi.NamespaceMode) *runtimeapi.PodSandboxConfig {
	pod := testPod(t, name, pid)
	pod.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{
		Mode: runtimeapi.NamespaceMode_POD, Uids: usernsMapping(usernsHostID), Gids: usernsMapping(usernsHostID),
	}
	return pod
}

// handlerSupportsUserns is what Status advertises for handler.
func handlerSupportsUserns(t *testing.T, rt runtimeapi.RuntimeServiceClient, handler string) bool {
	t.Helper()
	resp, err := rt.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	for _, h := range resp.RuntimeHandlers {
		if h.Name == handler {
			return h.Features.GetUserNamespaces()
		}
	}
	t.Fatalf("handler %q not in Status: %v", handler, resp.RuntimeHandlers)
	return false
}

// startUsernsDaemon is startPodDaemon with the test's temp dirs above the
// daemon's state dir searchable by others (as /run is): a container whose
// root is an unprivileged host uid opens its bundle's rootfs by path, and
// the daemon advertises user namespaces only when it can. With
// stateOnTmpfs the state dir is on a tmpfs of its own, as /run/cricket is
// on a node.
func startUsernsDaemon(t *testing.T, stateOnTmpfs bool) *harness.Daemon {
	t.Helper()
	m := sharedMirror(t)
	d := newDaemon(t)
	for p := d.Dir; strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if stateOnTmpfs {
		// Beside d.Dir, whose mounts the leak checks look for.
		run := t.TempDir()
		if err := os.Chmod(run, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", run, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64m"); err != nil {
			t.Fatalf("mount tmpfs on %s: %v", run, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(run, unix.MNT_DETACH) })
		d.State = filepath.Join(run, "cricket")
	}
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	if cfg := handlerConfig(t); cfg != "" {
		if err := os.WriteFile(d.Config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.Start("--registry-config-path", certs)
	t.Cleanup(func() { removeAllPods(t, d) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: podImage}}); err != nil {
		t.Fatalf("pull %s: %v", podImage, err)
	}
	return d
}

// kernelHasIDMappedOverlay: Linux 5.19 accepts idmapped overlay layers.
func kernelHasIDMappedOverlay(t *testing.T) bool { return kernelAtLeast(t, 5, 19) }

// kernelAtLeast reports whether the running kernel is major.minor or later.
func kernelAtLeast(t *testing.T, wantMajor, wantMinor int) bool {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(rel), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", rel, err)
	}
	return major > wantMajor || (major == wantMajor && minor >= wantMinor)
}

// TestPodUserNamespace runs a hostUsers: false pod on each handler that
// advertises user namespaces and checks what the container sees (its
// uid_map, the owners of its rootfs, a volume and the pod's files), that
// its root is an unprivileged uid on the host, and that nothing is left
// after removal. A handler that does not advertise them must refuse such a
// pod.
func TestPodUserNamespace(t *testing.T) {
	d := startUsernsDaemon(t, false)
	rt := d.Runtime()
	pod, shared := runtimeapi.NamespaceMode_CONTAINER, runtimeapi.NamespaceMode_POD
	cases := []struct {
		desc, handler string
		pid           runtimeapi.NamespaceMode
	}{
		{desc: "built-in executor", handler: "cricket", pid: pod},
		{desc: "built-in executor, shared pid namespace", handler: "cricket", pid: shared},
		{desc: "runc CLI", handler: "runc", pid: pod},
		{desc: "crun CLI", handler: "crun", pid: pod},
		{desc: "crun CLI, shared pid namespace", handler: "crun", pid: shared},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if why := handlerAvailable(tc.handler); why != "" {
				t.Skip(why)
			}
			pod := usernsPod(t, "userns-"+tc.handler, tc.pid)
			if !handlerSupportsUserns(t, rt, tc.handler) {
				if tc.handler == "cricket" && kernelHasIDMappedOverlay(t) {
					t.Fatal("the built-in handler does not advertise user namespaces on a kernel that has idmapped overlay layers")
				}
				_, err := rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: pod, RuntimeHandler: tc.handler})
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("RunPodSandbox with a user namespace on a handler without support: %v, want InvalidArgument", err)
				}
				t.Skipf("handler %s does not advertise user namespaces (refused as it should be)", tc.handler)
			}
			checkUsernsPod(t, d, pod, tc.handler)
		})
	}
}

// TestPodUserNamespaceStateOnTmpfs: with the state dir on a tmpfs, as
// /run/cricket is on a node, the pod's hostname, hosts and resolv.conf
// are tmpfs files as well as its shm; on a kernel that cannot idmap tmpfs
// (before 6.3) binding them idmapped failed every container. They belong
// to the pod's root instead, on every kernel.
func TestPodUserNamespaceStateOnTmpfs(t *testing.T) {
	d := startUsernsDaemon(t, true)
	if !handlerSupportsUserns(t, d.Runtime(), "cricket") {
		t.Skip("the built-in handler does not advertise user namespaces on this host")
	}
	checkUsernsPod(t, d, usernsPod(t, "userns-tmpfs-state", runtimeapi.NamespaceMode_CONTAINER), "cricket")
}

// TestPodUserNamespaceTmpfsVolume: a tmpfs volume (what the kubelet's
// secret and projected volumes are) in a hostUsers: false pod is
// idmapped like any volume on a kernel that idmaps tmpfs (Linux 6.3), and
// refused at CreateContainer as FailedPrecondition naming it on one that
// cannot, leaving nothing behind.
func TestPodUserNamespaceTmpfsVolume(t *testing.T) {
	d := startUsernsDaemon(t, false)
	rt := d.Runtime()
	if !handlerSupportsUserns(t, rt, "cricket") {
		t.Skip("the built-in handler does not advertise user namespaces on this host")
	}
	vol := t.TempDir()
	if err := unix.Mount("tmpfs", vol, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", vol, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(vol, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(vol, "token"), []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	pod := usernsPod(t, "userns-tmpfs-volume", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "cricket")
	ctr := testContainer("app", `echo "$(stat -c '%n %u:%g' /secret/token) $(cat /secret/token)"; exec sleep 1000`)
	ctr.Mounts = []*runtimeapi.Mount{{ContainerPath: "/secret", HostPath: vol, Readonly: true}}
	ctx := context.Background()
	inits := podInits(d)
	if kernelAtLeast(t, 6, 3) {
		startContainer(t, rt, podID, pod, ctr)
		logPath := filepath.Join(pod.LogDirectory, "app.log")
		testutil.Eventually(t, "container output", 10*time.Second, func() error { return logContains(t, logPath, "/secret/token 0:0 t") })
	} else {
		_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctr, SandboxConfig: pod})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "mount /secret: ") {
			t.Fatalf("CreateContainer with a tmpfs volume on a kernel before 6.3: %v, want FailedPrecondition naming /secret", err)
		}
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if l := leaks(t, d, []string{podID}, inits); len(l) > 0 {
		t.Errorf("left behind after removal:\n%s", strings.Join(l, "\n"))
	}
	if staged, _ := os.ReadDir(filepath.Join(d.State, "idmap")); len(staged) > 0 {
		t.Errorf("idmapped mount dirs left after removal: %v", staged)
	}
}

func checkUsernsPod(t *testing.T, d *harness.Daemon, pod *runtimeapi.PodSandboxConfig, handler string) {
	rt := d.Runtime()
	vol := t.TempDir()
	if err := os.Chmod(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "root-file"), []byte("r"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "user-file"), []byte("u"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(vol, "user-file"), 1234, 2345); err != nil {
		t.Fatal(err)
	}
	podID := runPod(t, rt, pod, handler)
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	// Pod state dirs are named by a prefix of the id; this pod is the
	// only one with a user namespace.
	pinned, _ := filepath.Glob(filepath.Join(d.State, "pods", "*", "ns", "user"))
	if len(pinned) != 1 || !isNsfs(pinned[0]) {
		t.Fatalf("pod user namespace is not pinned: %v", pinned)
	}
	nsFile := pinned[0]
	ctr := testContainer("app", `cat /proc/self/uid_map /proc/self/gid_map
stat -c '%n %u:%g' / /bin/sh /data /data/root-file /data/user-file /etc/hosts /etc/hostname
stat -c '%n %u:%g %a' /dev/shm
echo id $(id -u):$(id -g)
echo new > /data/by-container && echo created-volume
echo new > /dev/shm/by-container && echo created-shm
echo new > /by-container && echo created-rootfs
exec sleep 1000`)
	ctr.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: vol}}
	ctr.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: pod.Linux.SecurityContext.NamespaceOptions,
	}}
	ctrID := startContainer(t, rt, podID, pod, ctr)
	logPath := filepath.Join(pod.LogDirectory, "app.log")
	testutil.Eventually(t, "container output", 10*time.Second, func() error { return logContains(t, logPath, "created-rootfs") })
	out := logMessages(t, logPath)
	want := []string{
		fmt.Sprintf("0     %d      65536", usernsHostID), // uid_map and gid_map
		"/ 0:0", "/bin/sh 0:0", "/data 0:0", "/data/root-file 0:0", "/data/user-file 1234:2345",
		"/etc/hosts 0:0", "/etc/hostname 0:0", "/dev/shm 0:0 1777", "id 0:0", "created-volume", "created-shm",
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(w), " ")) {
			t.Errorf("container output lacks %q:\n%s", w, out)
		}
	}
	// Through the idmapped volume, container root writes as host root on
	// disk; in the rootfs's upper dir, as its host uid.
	assertOwner(t, filepath.Join(vol, "by-container"), 0, 0)
	// The pod's /dev/shm is not idmapped (tmpfs takes an idmap only from
	// Linux 6.3): it belongs to the pod's root, so what the container
	// writes there has its host ids, seen on the tmpfs itself (through
	// /proc/<pid>/root the idmap, if any, would hide the on-disk owner).
	shm, _ := filepath.Glob(filepath.Join(d.State, "pods", "*", "shm", "by-container"))
	if len(shm) != 1 {
		t.Errorf("the file the container wrote to /dev/shm is not on the pod's shm tmpfs: %v", shm)
	} else {
		assertOwner(t, shm[0], usernsHostID, usernsHostID)
	}
	pid := containerStatusPid(t, rt, ctrID)
	assertOwner(t, fmt.Sprintf("/proc/%d/root/by-container", pid), usernsHostID, usernsHostID)
	if uid := hostIDs(t, pid, "Uid:"); uid != fmt.Sprintf("%d %d %d %d", usernsHostID, usernsHostID, usernsHostID, usernsHostID) {
		t.Errorf("container root's host uids = %q, want %d", uid, usernsHostID)
	}
	if gid := hostIDs(t, pid, "Gid:"); !strings.HasPrefix(gid, fmt.Sprint(usernsHostID)) {
		t.Errorf("container root's host gids = %q, want %d", gid, usernsHostID)
	}
	// An exec joins the same user namespace.
	if got := execSync(t, rt, ctrID, "cat", "/proc/self/uid_map"); !strings.Contains(got, fmt.Sprint(usernsHostID)) {
		t.Errorf("exec uid_map = %q", got)
	}
	// A container of this pod cannot leave its user namespace.
	other := testContainer("other", "true")
	other.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{
			Mode: runtimeapi.NamespaceMode_POD, Uids: usernsMapping(usernsHostID + 65536), Gids: usernsMapping(usernsHostID + 65536)}},
	}}
	_, err := rt.CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: other, SandboxConfig: pod})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("CreateContainer with another user namespace: %v, want InvalidArgument", err)
	}
	inits := podInits(d)
	if _, err := rt.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if isNsfs(nsFile) {
		t.Errorf("user namespace still pinned at %s after removal", nsFile)
	}
	if l := leaks(t, d, []string{podID}, inits); len(l) > 0 {
		t.Errorf("left behind after removal:\n%s", strings.Join(l, "\n"))
	}
	if staged, _ := os.ReadDir(filepath.Join(d.State, "idmap")); len(staged) > 0 {
		t.Errorf("idmapped mount dirs left after removal: %v", staged)
	}
}

// TestPodUserNamespaceRejected: the user namespace options the CRI
// forbids are InvalidArgument, on the default handler.
func TestPodUserNamespaceRejected(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	two := []*runtimeapi.IDMapping{{HostId: 1000, Length: 100000}, {HostId: 2000, Length: 65536}}
	cases := []struct {
		desc string
		o    *runtimeapi.NamespaceOption
	}{
		{desc: "two mappings", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: two, Gids: two}}},
		{desc: "container id 0 not mapped", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
			Uids: []*runtimeapi.IDMapping{{ContainerId: 1, HostId: 1000, Length: 100000}}, Gids: usernsMapping(1000)}}},
		{desc: "no gid mapping", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: usernsMapping(1000)}}},
		{desc: "mode CONTAINER", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}}},
		{desc: "mode TARGET", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_TARGET}}},
		{desc: "mode NODE with mappings", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE, Uids: usernsMapping(1000), Gids: usernsMapping(1000)}}},
		{desc: "host ipc", o: &runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE,
			UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: usernsMapping(1000), Gids: usernsMapping(1000)}}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			pod := testPod(t, "userns-reject", runtimeapi.NamespaceMode_CONTAINER)
			pod.Linux.SecurityContext.NamespaceOptions = tc.o
			_, err := rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: pod})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("RunPodSandbox: %v, want InvalidArgument", err)
			}
		})
	}
	if l := leaks(t, d, nil, nil); len(l) > 0 {
		t.Errorf("refused pods left:\n%s", strings.Join(l, "\n"))
	}
}

func isNsfs(p string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(p, &st) == nil && st.Type == 0x6e736673
}

func assertOwner(t *testing.T, p string, uid, gid uint32) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Errorf("stat %s: %v", p, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("%s is owned by %d:%d on the host, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
}

func containerStatusPid(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string) int {
	t.Helper()
	resp, err := rt.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(resp.Info["info"]), &info); err != nil || info.Pid == 0 {
		t.Fatalf("pid of container %s from %q: %v", id, resp.Info["info"], err)
	}
	return info.Pid
}

// hostIDs is the Uid: or Gid: line of /proc/<pid>/status: real, effective,
// saved and filesystem ids as the host sees them.
func hostIDs(t *testing.T, pid int, key string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// TestPodUserNamespaceSurvivesRestart: a hostUsers: false pod outlives a
// killed daemon; the restarted one runs a new container in it, in the
// same user namespace, and removes it all without leaks.
func TestPodUserNamespaceSurvivesRestart(t *testing.T) {
	d := startUsernsDaemon(t, false)
	rt := d.Runtime()
	ctx := context.Background()
	pod := usernsPod(t, "userns-restart", runtimeapi.NamespaceMode_POD)
	podID := runPod(t, rt, pod, "")
	ctrID := startContainer(t, rt, podID, pod, testContainer("first", `exec sleep 1000`))
	inits := podInits(d)
	if !d.Signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatal("cricketd survived SIGKILL")
	}
	d.Start("--registry-config-path", d.Dir+"/certs.d")
	t.Cleanup(func() { removeAllPods(t, d) })
	rt = d.Runtime()
	if st := containerStatus(t, rt, ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container is %v after restart", st.State)
	}
	second := startContainer(t, rt, podID, pod, testContainer("second", `cat /proc/self/uid_map; stat -c '%u' /etc/hosts; exec sleep 1000`))
	logPath := filepath.Join(pod.LogDirectory, "second.log")
	testutil.Eventually(t, "second container output", 10*time.Second, func() error { return logContains(t, logPath, "\n0") })
	if got := strings.Join(strings.Fields(logMessages(t, logPath)), " "); got != fmt.Sprintf("0 %d 65536 0", usernsHostID) {
		t.Errorf("second container after restart saw %q", got)
	}
	// Both containers are in the one pod user namespace.
	a, errA := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", containerStatusPid(t, rt, ctrID)))
	b, errB := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", containerStatusPid(t, rt, second)))
	if errA != nil || errB != nil || a != b {
		t.Errorf("user namespaces of the containers: %q (%v), %q (%v)", a, errA, b, errB)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if l := leaks(t, d, []string{podID}, inits); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
	if staged, _ := os.ReadDir(filepath.Join(d.State, "idmap")); len(staged) > 0 {
		t.Errorf("idmapped mount dirs left after removal: %v", staged)
	}
}
