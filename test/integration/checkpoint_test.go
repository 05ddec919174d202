package integration

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

// counterScript counts in memory (i) and appends each count to a file of
// the container's rootfs; a restored container goes on from its memory.
const counterScript = `i=0; while :; do i=$((i+1)); echo $i >> /count.txt; echo $i; sleep 0.2; done`

// TestCheckpointRefusedWithoutCRIU: on a host where CRIU does not work
// (this one's kernel: "criu check" fails), the three RPCs and a restore
// through CreateContainer answer FailedPrecondition with CRIU's reason,
// verbose Status says so, and nothing is written. Invalid requests are
// InvalidArgument first.
func TestCheckpointRefusedWithoutCRIU(t *testing.T) {
	criu := runtime.ProbeCRIU(context.Background())
	if criu.Usable() {
		t.Skip("CRIU is usable on this host: TestCheckpointRestore covers checkpoint and restore")
	}
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "ckpt-refused", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	id := startContainer(t, rt, podID, pod, testContainer("counter", counterScript))

	st, err := rt.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Usable bool   `json:"usable"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(st.Info["criu"]), &info); err != nil || info.Usable || !strings.Contains(info.Reason, "CRIU is unusable") {
		t.Errorf("Status info criu = %q (%v), want unusable with the reason", st.Info["criu"], err)
	}

	out := t.TempDir()
	wantRefused := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "CRIU is unusable") {
			t.Errorf("%s = %v, want FailedPrecondition with CRIU's reason", what, err)
		}
	}
	wantInvalid := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s = %v, want InvalidArgument", what, err)
		}
	}
	_, err = rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: id, Location: filepath.Join(out, "c.tar")})
	wantRefused("CheckpointContainer", err)
	_, err = rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: id, Location: "relative.tar"})
	wantInvalid("CheckpointContainer to a relative path", err)

	podReq := &runtimeapi.CheckpointPodRequest{PodSandboxId: podID, OutputPath: out, ContainerIds: []string{id}}
	_, err = rt.CheckpointPod(ctx, podReq)
	wantRefused("CheckpointPod", err)
	podReq.Options = map[string]string{"no-such-option": "1"}
	_, err = rt.CheckpointPod(ctx, podReq)
	wantInvalid("CheckpointPod with an unknown option", err)
	podReq.Options = nil
	podReq.ContainerIds = []string{id, id}
	_, err = rt.CheckpointPod(ctx, podReq)
	wantInvalid("CheckpointPod with a repeated container", err)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(out, link); err != nil {
		t.Fatal(err)
	}
	_, err = rt.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: podID, OutputPath: link, ContainerIds: []string{id}})
	wantInvalid("CheckpointPod into a symlink", err)

	restoreReq := &runtimeapi.RestorePodRequest{
		CheckpointPath: out, Config: testPod(t, "ckpt-restored", runtimeapi.NamespaceMode_CONTAINER),
		ContainerConfigs: []*runtimeapi.ContainerConfig{testContainer("counter", counterScript)},
	}
	_, err = rt.RestorePod(ctx, restoreReq)
	wantRefused("RestorePod", err)
	restoreReq.Options = map[string]string{"tcp-established": "perhaps"}
	_, err = rt.RestorePod(ctx, restoreReq)
	wantInvalid("RestorePod with an invalid option value", err)

	fake := filepath.Join(t.TempDir(), "c.tar")
	if err := os.WriteFile(fake, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testContainer("restored", counterScript)
	cfg.Image.Image = fake
	_, err = rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	wantRefused("CreateContainer from a checkpoint archive", err)

	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("the refused requests wrote %d entries", len(entries))
	}
	if s := containerStatus(t, rt, id); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container is %s after the refusals", s.State)
	}
}

// TestCheckpointRestore: a container counting in memory and appending to
// a file is checkpointed (and runs on), removed with its pod, restored
// into a new pod from the archive, and counts on from where it was, with
// its file. Through each handler.
func TestCheckpointRestore(t *testing.T) {
	criu := runtime.ProbeCRIU(context.Background())
	if !criu.Usable() {
		t.Skipf("CRIU unusable on this host: %v", criu.Err)
	}
	d := startPodDaemon(t)
	for _, handler := range []string{"", "runc", "crun"} {
		t.Run("handler="+handler, func(t *testing.T) {
			if why := handlerAvailable(handler); why != "" {
				t.Skip(why)
			}
			testCheckpointRestore(t, d.Runtime(), handler)
		})
	}
}

func testCheckpointRestore(t *testing.T, rt runtimeapi.RuntimeServiceClient, handler string) {
	ctx := context.Background()
	suffix := "-" + handler
	if handler == "" {
		suffix = "-default"
	}
	pod := testPod(t, "ckpt-src"+suffix, runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, handler)
	id := startContainer(t, rt, podID, pod, testContainer("counter", counterScript))
	waitCount(t, rt, id, 5)
	// The checkpointed container's cgroup, which must go with its pod and
	// stay gone: CRIU re-creates the cgroups recorded at the dump when
	// the runtime does not tell it the new one at the restore.
	srcCgroup := unifiedCgroupOf(t, containerStatusPid(t, rt, id))

	archive := filepath.Join(t.TempDir(), "counter.tar")
	_, err := rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: id, Location: archive, Timeout: 120})
	if status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "no checkpoint support") {
		// Debian 12's crun 1.8.1 is built without CRIU.
		t.Skipf("the %s handler's runtime cannot checkpoint on this host: %v", handler, err)
	}
	if err != nil {
		t.Fatalf("CheckpointContainer: %v", err)
	}
	fi, err := os.Stat(archive)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive %v, %v: want a 0600 file", fi, err)
	}
	dumped := archiveCount(t, archive)
	t.Logf("checkpointed at count %d (archive %d bytes)", dumped, fi.Size())
	// The container runs on after its checkpoint.
	waitCount(t, rt, id, dumped+3)
	if s := containerStatus(t, rt, id); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container is %s after its checkpoint", s.State)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}

	pod2 := testPod(t, "ckpt-dst"+suffix, runtimeapi.NamespaceMode_CONTAINER)
	pod2ID := runPod(t, rt, pod2, handler)
	t.Cleanup(func() {
		_, _ = rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod2ID})
	})
	cfg := testContainer("counter", counterScript)
	cfg.Image.Image = archive
	resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod2ID, Config: cfg, SandboxConfig: pod2})
	if err != nil {
		t.Fatalf("CreateContainer from the archive: %v", err)
	}
	if s := containerStatus(t, rt, resp.ContainerId); s.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Fatalf("restored container is %s before StartContainer", s.State)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatalf("StartContainer of the restored container: %v", err)
	}
	waitCount(t, rt, resp.ContainerId, dumped+3)
	lines := strings.Fields(execSync(t, rt, resp.ContainerId, "cat", "/count.txt"))
	// The file holds the counts up to the checkpoint, then the restored
	// process's, which go on from its memory: 1, 2, ..., n with no gap or
	// restart from 1.
	for i, l := range lines {
		if n, err := strconv.Atoi(l); err != nil || n != i+1 {
			t.Fatalf("/count.txt line %d is %q, want %d: the restored process did not continue (file: %v)", i+1, l, i+1, lines)
		}
	}
	if len(lines) <= dumped {
		t.Fatalf("/count.txt has %d lines, want more than the %d at the checkpoint", len(lines), dumped)
	}
	stopRestored(t, rt, pod2ID, resp.ContainerId)
	if srcCgroup != "" {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", srcCgroup)); err == nil {
			t.Errorf("the checkpointed container's cgroup %s is there after its pod's removal and the restore", srcCgroup)
		}
	}
}

// stopRestored stops restored containers and removes their pod as the
// kubelet would: each must stop within its grace period, the pod must go,
// and no process of theirs may outlive it. (With Debian 12's runc 1.1 on
// cgroup v2, restored processes sat outside their container's cgroup,
// where neither runc kill --all nor the pod's removal found them.)
func stopRestored(t *testing.T, rt runtimeapi.RuntimeServiceClient, podID string, ids ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var pids []int
	for _, id := range ids {
		pid := containerStatusPid(t, rt, id)
		pids = append(pids, pid)
		if cg := unifiedCgroupOf(t, pid); cg != "" && !strings.Contains(cg, id) {
			t.Errorf("restored container %s: its process %d is in cgroup %s, not in its own", id, pid, cg)
		}
		if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 2}); err != nil {
			t.Fatalf("StopContainer of the restored container %s: %v", id, err)
		}
		if s := containerStatus(t, rt, id); s.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			t.Fatalf("restored container %s is %s after StopContainer", id, s.State)
		}
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("RemovePodSandbox of the restored pod: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of a restored container outlived its pod", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// unifiedCgroupOf is the cgroup v2 path of pid on a host with cgroup v2
// alone, "" elsewhere.
func unifiedCgroupOf(t *testing.T, pid int) string {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		return ""
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatalf("/proc/%d/cgroup has no cgroup v2 line: %q", pid, data)
	return ""
}

// waitCount waits until the container's /count.txt has reached n.
func waitCount(t *testing.T, rt runtimeapi.RuntimeServiceClient, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"tail", "-n", "1", "/count.txt"}, Timeout: 10})
		if err == nil {
			last = strings.TrimSpace(string(resp.Stdout))
			if v, err := strconv.Atoi(last); err == nil && v >= n {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("container %s: count did not reach %d (last %q)", id, n, last)
}

// archiveCount checks the archive's layout and returns the number of
// counts /count.txt held when it was taken (from rootfs-diff.tar).
func archiveCount(t *testing.T, archive string) int {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	count := -1
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
		if h.Name == metadata.RootFsDiffTar {
			count = diffCount(t, tr)
		}
	}
	for _, want := range []string{metadata.CheckpointDirectory, metadata.ConfigDumpFile, metadata.SpecDumpFile, metadata.RootFsDiffTar, metadata.DumpLogFile, "stats-dump"} {
		if !seen[want] {
			t.Errorf("archive lacks %s", want)
		}
	}
	if count < 1 {
		t.Fatalf("rootfs-diff.tar has no /count.txt with counts")
	}
	return count
}

func diffCount(t *testing.T, r io.Reader) int {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			return -1
		}
		if h.Name == "count.txt" {
			data, _ := io.ReadAll(tr)
			return len(strings.Fields(string(data)))
		}
	}
}

// TestCheckpointPod: a two-container pod is checkpointed with CheckpointPod
// into an empty directory; both containers run on and count on; the
// directory holds each one's checkpoint and pod.options, mode 0600. The pod
// is removed and RestorePod brings both back in a new pod, CREATED until
// started, then counting on.
func TestCheckpointPod(t *testing.T) {
	criu := runtime.ProbeCRIU(context.Background())
	if !criu.Usable() {
		t.Skipf("CRIU unusable on this host: %v", criu.Err)
	}
	d := startPodDaemon(t)
	rt := d.Runtime()
	ctx := context.Background()
	pod := testPod(t, "ckpt-pod", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	a := startContainer(t, rt, podID, pod, testContainer("counter", counterScript))
	b := startContainer(t, rt, podID, pod, testContainer("side", counterScript))
	waitCount(t, rt, a, 3)
	waitCount(t, rt, b, 3)
	out := t.TempDir()
	if _, err := rt.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: podID, OutputPath: out, ContainerIds: []string{a, b}}); err != nil {
		t.Fatalf("CheckpointPod: %v", err)
	}
	for _, name := range []string{"counter", "side"} {
		for _, f := range []string{metadata.ConfigDumpFile, metadata.SpecDumpFile, metadata.RootFsDiffTar, "stats-dump"} {
			if fi, err := os.Stat(filepath.Join(out, name, f)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s/%s: %v, %v; want a 0600 file", name, f, fi, err)
			}
		}
		if entries, err := os.ReadDir(filepath.Join(out, name, metadata.CheckpointDirectory)); err != nil || len(entries) == 0 {
			t.Errorf("%s/%s: %d entries, %v", name, metadata.CheckpointDirectory, len(entries), err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, metadata.PodOptionsFile)); err != nil {
		t.Error(err)
	}
	for _, id := range []string{a, b} {
		if s := containerStatus(t, rt, id); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("container %s is %s after CheckpointPod", id, s.State)
		}
	}
	waitCount(t, rt, a, 8)
	// The directory must be empty: a second checkpoint into it is refused.
	_, err := rt.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: podID, OutputPath: out, ContainerIds: []string{a, b}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("CheckpointPod into a non-empty dir = %v, want InvalidArgument", err)
	}
	dumped := len(strings.Fields(diffFile(t, filepath.Join(out, "counter", metadata.RootFsDiffTar), "count.txt")))
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}

	// RestorePod: a new pod, both containers CREATED, then started: they
	// count on from the checkpoint.
	pod2 := testPod(t, "ckpt-pod-restored", runtimeapi.NamespaceMode_CONTAINER)
	resp, err := rt.RestorePod(ctx, &runtimeapi.RestorePodRequest{
		CheckpointPath: out, Config: pod2,
		ContainerConfigs: []*runtimeapi.ContainerConfig{testContainer("counter", counterScript), testContainer("side", counterScript)},
	})
	if err != nil {
		t.Fatalf("RestorePod: %v", err)
	}
	if len(resp.RestoredContainers) != 2 || resp.PodSandboxId == "" {
		t.Fatalf("RestorePod = %+v", resp)
	}
	ids := map[string]string{}
	for _, rc := range resp.RestoredContainers {
		if s := containerStatus(t, rt, rc.ContainerId); s.State != runtimeapi.ContainerState_CONTAINER_CREATED {
			t.Fatalf("restored %s is %s, want CREATED", rc.Name, s.State)
		}
		ids[rc.Name] = rc.ContainerId
	}
	for _, id := range ids {
		if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("StartContainer: %v", err)
		}
	}
	waitCount(t, rt, ids["counter"], dumped+3)
	lines := strings.Fields(execSync(t, rt, ids["counter"], "cat", "/count.txt"))
	for i, l := range lines {
		if n, err := strconv.Atoi(l); err != nil || n != i+1 {
			t.Fatalf("/count.txt line %d is %q: the restored process did not continue (file: %v)", i+1, l, lines)
		}
	}
	waitCount(t, rt, ids["side"], 4)

	// A request naming a container the checkpoint lacks creates nothing.
	before, _ := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	_, err = rt.RestorePod(ctx, &runtimeapi.RestorePodRequest{
		CheckpointPath: out, Config: testPod(t, "ckpt-pod-bad", runtimeapi.NamespaceMode_CONTAINER),
		ContainerConfigs: []*runtimeapi.ContainerConfig{testContainer("counter", counterScript), testContainer("other", counterScript)},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("RestorePod with a container not in the checkpoint = %v, want InvalidArgument", err)
	}
	after, _ := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if len(after.Items) != len(before.Items) {
		t.Fatalf("a refused RestorePod left a pod: %d pods before, %d after", len(before.Items), len(after.Items))
	}
	stopRestored(t, rt, resp.PodSandboxId, ids["counter"], ids["side"])
}

// diffFile returns the content of name in the rootfs-diff tar at p.
func diffFile(t *testing.T, p, name string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s (%v)", p, name, err)
		}
		if h.Name == name {
			data, _ := io.ReadAll(tr)
			return string(data)
		}
	}
}

// TestCheckpointImageRestore: a checkpoint archive made into an OCI image
// (one layer, the archive's files; CRI-O's checkpoint annotation on the
// manifest, as `buildah add` + `buildah config --annotation` make it),
// pushed to a registry and pulled, restores through CreateContainer with
// the image's reference: CREATED on the checkpointed image, then counting
// on from its memory with its file changes.
func TestCheckpointImageRestore(t *testing.T) {
	criu := runtime.ProbeCRIU(context.Background())
	if !criu.Usable() {
		t.Skipf("CRIU unusable on this host: %v", criu.Err)
	}
	reg := newTamperRegistry(t)
	d := newDaemon(t)
	certs := filepath.Join(d.Dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, sharedMirror(t).Addrs()); err != nil {
		t.Fatal(err)
	}
	writePlainHTTPHosts(t, certs, reg.host())
	d.Start("--registry-config-path", certs)
	t.Cleanup(func() { removeAllPods(t, d) })
	rt := d.Runtime()
	ctx := context.Background()
	pullPodImage(t, d)

	pod := testPod(t, "ckpt-img-src", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	id := startContainer(t, rt, podID, pod, testContainer("counter", counterScript))
	waitCount(t, rt, id, 5)
	archive := filepath.Join(t.TempDir(), "counter.tar")
	if _, err := rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: id, Location: archive, Timeout: 120}); err != nil {
		t.Fatalf("CheckpointContainer: %v", err)
	}
	dumped := archiveCount(t, archive)
	srcImageRef := containerStatus(t, rt, id).ImageRef
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	layer, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	img := reg.pushAnnotated(t, "checkpoints/counter", "v1", map[string]string{"io.kubernetes.cri-o.annotations.checkpoint.name": "counter"}, layer)
	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img.ref}}); err != nil {
		t.Fatalf("pull the checkpoint image: %v", err)
	}

	pod2 := testPod(t, "ckpt-img-dst", runtimeapi.NamespaceMode_CONTAINER)
	pod2ID := runPod(t, rt, pod2, "")
	cfg := testContainer("counter", counterScript)
	cfg.Image.Image = img.ref
	resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod2ID, Config: cfg, SandboxConfig: pod2})
	if err != nil {
		t.Fatalf("CreateContainer from the checkpoint image: %v", err)
	}
	// The status keeps the image spec the request named (the checkpoint
	// image); the image the container runs on (ImageRef) is the
	// checkpointed container's.
	s := containerStatus(t, rt, resp.ContainerId)
	if s.State != runtimeapi.ContainerState_CONTAINER_CREATED || s.ImageRef != srcImageRef || s.Image.GetImage() != img.ref {
		t.Fatalf("restored container: %s, image %q, image ref %q; want CREATED, image %q, on the checkpointed container's image %q",
			s.State, s.Image.GetImage(), s.ImageRef, img.ref, srcImageRef)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatalf("StartContainer of the restored container: %v", err)
	}
	waitCount(t, rt, resp.ContainerId, dumped+3)
	wantContinued(t, "counter", strings.Fields(execSync(t, rt, resp.ContainerId, "cat", "/count.txt")))
	stopRestored(t, rt, pod2ID, resp.ContainerId)
}
