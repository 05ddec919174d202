package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// The tests of this file kill cricketd (or fail a request) at the moment
// a pod's or container's directory appears, watched with inotify, and
// check that nothing of it is left once a restarted daemon has recovered
// (issue 15: test/fault leaked pods/<id> now and then).

// TestKillWhenPodStateDirAppears SIGKILLs the daemon the moment a pod's
// state dir is created in RunPodSandbox, restarts it on the same dirs and
// checks that nothing of the pod is left: no state dir, no record, no
// mount under the state dir (pinned namespaces), no shim or pod init, no
// pod cgroup. Half the pods share a pid namespace, held by a pod init.
func TestKillWhenPodStateDirAppears(t *testing.T) {
	d := startPodDaemon(t)
	for i, pid := range []runtimeapi.NamespaceMode{runtimeapi.NamespaceMode_CONTAINER, runtimeapi.NamespaceMode_POD} {
		pods := filepath.Join(d.State, "pods")
		created := watchCreate(t, pods, func(string) { killNow(d) })
		_, err := d.Runtime().RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{
			Config: testPod(t, "killearly-"+pid.String(), pid),
		})
		if err == nil {
			t.Fatal("RunPodSandbox answered although the daemon was killed when the pod's state dir appeared")
		}
		dir := <-created
		if !d.Signal(syscall.SIGKILL, 10*time.Second) {
			t.Fatal("cricketd survived SIGKILL")
		}
		d.Start("--registry-config-path", filepath.Join(d.Dir, "certs.d"))
		t.Cleanup(func() { removeAllPods(t, d) }) // before this daemon's stop
		if l := leftOf(t, d, filepath.Base(dir)); len(l) > 0 {
			t.Errorf("round %d (pid %v): left behind after the restart:\n%s", i, pid, strings.Join(l, "\n"))
		}
	}
}

// TestFailedRunPodSandboxLeavesNoStateDir: a RunPodSandbox that fails
// late (an invalid DNS server, found when the pod's files are written)
// rolls back, and its record goes only once its state dir is gone. A mount
// that the rollback's own teardown does not know of, made under the dir
// while the pod starts, is unmounted, never removed through: the bound
// dir keeps its file. The rollback used to delete the record first and
// remove the dir with os.RemoveAll, so a kill in between (or a mount left
// under the dir) left a dir no record names, and nothing ever removed it.
func TestFailedRunPodSandboxLeavesNoStateDir(t *testing.T) {
	d := startPodDaemon(t)
	vol := t.TempDir()
	keep := filepath.Join(vol, "keep")
	if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	pods := filepath.Join(d.State, "pods")
	mounted := make(chan error, 1)
	created := watchCreate(t, pods, func(dir string) {
		target := filepath.Join(pods, dir, "foreign")
		err := os.Mkdir(target, 0o700)
		if err == nil {
			err = unix.Mount(vol, target, "", unix.MS_BIND, "")
		}
		mounted <- err
	})
	t.Cleanup(func() {
		if m, _ := mountsUnder(d.State); len(m) > 0 {
			for _, p := range m {
				_ = unix.Unmount(p, unix.MNT_DETACH)
			}
		}
	})
	pod := testPod(t, "rollback", runtimeapi.NamespaceMode_CONTAINER)
	pod.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"not-an-ip"}}
	_, err := d.Runtime().RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: pod})
	if err == nil || !strings.Contains(err.Error(), "not-an-ip") {
		t.Fatalf("RunPodSandbox with an invalid DNS server: %v, want its error", err)
	}
	dir := <-created
	if err := <-mounted; err != nil {
		t.Fatalf("mount under the pod's state dir while it started: %v", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
		t.Errorf("the rollback removed the file of a dir mounted under the pod's state dir: %q, %v", b, err)
	}
	if l := leftOf(t, d, dir); len(l) > 0 {
		t.Errorf("left behind by the rollback:\n%s", strings.Join(l, "\n"))
	}
}

// TestKillWhenFailedPodRecordIsDeleted SIGKILLs the daemon the moment
// the rollback of a failed RunPodSandbox deletes the pod's record, and
// checks after a restart that nothing of the pod is left: the record must
// go last, once the state dir is gone (issue 15: the rollback deleted the
// record first, and a kill in between left a dir no record names).
func TestKillWhenFailedPodRecordIsDeleted(t *testing.T) {
	d := startPodDaemon(t)
	records := filepath.Join(d.Root, "meta", "sandboxes")
	pods := filepath.Join(d.State, "pods")
	created := watchCreate(t, pods, func(string) {})
	deleted := watch(t, records, unix.IN_DELETE, func(string) { killNow(d) })
	pod := testPod(t, "killrollback", runtimeapi.NamespaceMode_POD)
	pod.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"not-an-ip"}}
	if _, err := d.Runtime().RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: pod}); err == nil {
		t.Fatal("RunPodSandbox with an invalid DNS server succeeded")
	}
	dir, record := <-created, <-deleted
	if !strings.HasPrefix(record, dir) {
		t.Fatalf("record %s deleted, want the one of pod dir %s", record, dir)
	}
	if !d.Signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatal("cricketd survived SIGKILL")
	}
	d.Start("--registry-config-path", filepath.Join(d.Dir, "certs.d"))
	t.Cleanup(func() { removeAllPods(t, d) }) // before this daemon's stop
	if l := leftOf(t, d, dir); len(l) > 0 {
		t.Errorf("left behind after the restart:\n%s", strings.Join(l, "\n"))
	}
}

// TestKillWhenContainerBundleAppears SIGKILLs the daemon the moment a
// container's bundle dir is created in CreateContainer, restarts it and
// checks that the container left nothing: no bundle, no record, no rootfs
// mount, no writable snapshot.
func TestKillWhenContainerBundleAppears(t *testing.T) {
	d := startPodDaemon(t)
	pod := testPod(t, "killearly-ctr", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, d.Runtime(), pod, "")
	snapsBefore := dirNames(filepath.Join(d.Root, "snapshots", "snapshots"))
	ctrs := filepath.Join(d.State, "containers")
	created := watchCreate(t, ctrs, func(string) { killNow(d) })
	_, err := d.Runtime().CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID, Config: testContainer("app", "sleep 1000"), SandboxConfig: pod,
	})
	if err == nil {
		t.Fatal("CreateContainer answered although the daemon was killed when the bundle appeared")
	}
	id := <-created
	if !d.Signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatal("cricketd survived SIGKILL")
	}
	d.Start("--registry-config-path", filepath.Join(d.Dir, "certs.d"))
	t.Cleanup(func() { removeAllPods(t, d) }) // before this daemon's stop
	var left []string
	if _, err := os.Stat(filepath.Join(ctrs, id)); !os.IsNotExist(err) {
		left = append(left, "bundle: "+id)
	}
	if _, err := os.Stat(filepath.Join(d.Root, "meta", "containers", id+".json")); !os.IsNotExist(err) {
		left = append(left, "record: "+id)
	}
	m, err := mountsUnder(ctrs)
	if err != nil {
		t.Fatal(err)
	}
	left = append(left, m...)
	if after := dirNames(filepath.Join(d.Root, "snapshots", "snapshots")); len(after) != len(snapsBefore) {
		left = append(left, "snapshot dirs: "+strings.Join(after, " ")+" (before: "+strings.Join(snapsBefore, " ")+")")
	}
	if len(left) > 0 {
		t.Errorf("left behind after the restart:\n%s", strings.Join(left, "\n"))
	}
	// The pod itself survived the kill and still takes containers.
	startContainer(t, d.Runtime(), podID, pod, testContainer("app", "sleep 1000"))
}

// killNow sends SIGKILL to the daemon at once (the caller waits for its
// exit with d.Signal).
func killNow(d *harness.Daemon) {
	_ = syscall.Kill(d.Pid(), syscall.SIGKILL)
}

// watchCreate calls fn with the name of the first entry created in dir
// (made if missing), as soon as inotify reports it, and then sends the
// name on the channel it returns.
func watchCreate(t *testing.T, dir string, fn func(name string)) <-chan string {
	t.Helper()
	return watch(t, dir, unix.IN_CREATE, fn)
}

// watch is watchCreate for the inotify events of mask.
func watch(t *testing.T, dir string, mask uint32, fn func(name string)) <-chan string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify_init1: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, mask|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		t.Fatalf("inotify_add_watch(%s): %v", dir, err)
	}
	out := make(chan string, 1)
	done := make(chan struct{})
	ended := make(chan struct{})
	t.Cleanup(func() { close(done); <-ended; unix.Close(fd) })
	go func() {
		defer close(ended)
		buf := make([]byte, 4096)
		for {
			select {
			case <-done:
				return
			default:
			}
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if n, err := unix.Poll(fds, 100); err != nil || n == 0 {
				continue
			}
			n, err := unix.Read(fd, buf)
			if err != nil || n < unix.SizeofInotifyEvent {
				continue
			}
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[0]))
			name := strings.TrimRight(string(buf[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			fn(name)
			out <- name
			return
		}
	}()
	return out
}

// leftOf lists what is left of the pod whose state dir was dir (a name
// under <state>/pods): the dir, records, mounts under the state dir,
// processes naming the daemon's dir (shims, pod inits) and the pod's
// cgroups.
func leftOf(t *testing.T, d *harness.Daemon, dir string) []string {
	t.Helper()
	var out []string
	if _, err := os.Stat(filepath.Join(d.State, "pods", dir)); !os.IsNotExist(err) {
		out = append(out, "state dir: pods/"+dir)
	}
	records, _ := filepath.Glob(filepath.Join(d.Root, "meta", "sandboxes", dir+"*.json"))
	for _, r := range records {
		out = append(out, "record: "+r)
	}
	m, err := mountsUnder(d.State)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m {
		out = append(out, "mount: "+p)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		if strings.Contains(string(cmdline), d.Dir) && !isDaemon(d, p) {
			out = append(out, "process: "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	for _, c := range podCgroupsLeft("pod-" + dir) {
		out = append(out, "cgroup: "+c)
	}
	return out
}

// mountsUnder lists the mount points at or under dir in
// /proc/self/mountinfo.
func mountsUnder(dir string) ([]string, error) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out, nil
}

// dirNames lists the names in dir.
func dirNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
