package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// The two containers of TestCheckpointPodNetwork share an emptyDir at
// /data. The server serves it over TCP (busybox httpd on 8080, a daemon
// child of the shell) and counts in memory into /count.txt; the client
// counts in memory, appends each count to /count.txt and to the emptyDir's
// /data/written, fetches /written from the server over a new connection
// each round and records in /ok.txt each count whose fetch worked. Both
// also listen (the client on 8081) so that either can be made to hold an
// established connection from outside. (The fetch is bounded by timeout:
// the test image's busybox, Debian's 1.35, crashes on wget -T.) While the
// emptyDir holds /data/hold, the client does not fetch: a fetch in flight
// is a connection CRIU refuses to dump without tcp-established, in
// whichever container is dumped first.
const (
	podServerScript = `httpd -p 8080 -h /data; i=0; while :; do i=$((i+1)); echo $i >> /count.txt; sleep 0.2; done`
	podClientScript = `mkdir -p /www; httpd -p 8081 -h /www; i=0; while :; do i=$((i+1)); echo $i >> /count.txt; echo $i >> /data/written; ` +
		`if [ ! -e /data/hold ] && timeout 3 wget -q -O /dev/null http://127.0.0.1:8080/written; then echo $i >> /ok.txt; fi; sleep 0.3; done`
)

func podCkptContainer(name, script, emptyDir string) *runtimeapi.ContainerConfig {
	c := testContainer(name, script)
	c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: emptyDir}}
	return c
}

// TestCheckpointPodNetwork: a two-container pod (shared emptyDir, one
// container listening on TCP, the other its client) on a CNI network.
//   - CheckpointPod failing in the middle (the second container in dump
//     order holds an established connection from outside and the request
//     does not ask for tcp-established: CRIU refuses it after the first is
//     dumped) leaves nothing: no CRIU process, mount, cgroup or file, an
//     empty output dir, and both containers running and counting on.
//   - CheckpointPod with tcp-established succeeds; the pod is removed.
//   - RestorePod failing in the middle (the second container's config
//     names an image that is not there, after the pod and the first
//     container are made) leaves nothing of the new pod.
//   - RestorePod into a new pod (new IP): both containers resume (the same
//     pids, the counts go on from memory with no gap or restart), the
//     client reconnects to the restored listener, the listener answers on
//     the new pod IP, and the emptyDir holds what was written before.
func TestCheckpointPodNetwork(t *testing.T) {
	criu := runtime.ProbeCRIU(context.Background())
	if !criu.Usable() {
		t.Skipf("CRIU unusable on this host: %v", criu.Err)
	}
	n := newPodNet(t, "ckp", 18)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()
	ctx := context.Background()
	emptyDir := t.TempDir()

	pod := testPod(t, "ckpt-net", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	server := startContainer(t, rt, podID, pod, podCkptContainer("server", podServerScript, emptyDir))
	client := startContainer(t, rt, podID, pod, podCkptContainer("client", podClientScript, emptyDir))
	waitLast(t, rt, client, "/ok.txt", 3)
	waitLast(t, rt, server, "/count.txt", 3)
	ip1 := podIP(t, rt, podID)
	serverPids := execSync(t, rt, server, "pidof", "httpd")

	checkpointPodFailure(t, d, rt, podID, server, client, ip1, emptyDir)

	out := t.TempDir()
	_, err := rt.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{
		PodSandboxId: podID, OutputPath: out, ContainerIds: []string{server, client},
		Options: map[string]string{checkpoint.OptionTCPEstablished: "true"},
	})
	if err != nil {
		t.Fatalf("CheckpointPod: %v", err)
	}
	serverAt := len(strings.Fields(diffFile(t, filepath.Join(out, "server", metadata.RootFsDiffTar), "count.txt")))
	clientAt := len(strings.Fields(diffFile(t, filepath.Join(out, "client", metadata.RootFsDiffTar), "count.txt")))
	t.Logf("checkpointed at server count %d, client count %d", serverAt, clientAt)
	waitLast(t, rt, client, "/ok.txt", clientAt+2)
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	written := readLines(t, filepath.Join(emptyDir, "written"))

	pod2 := testPod(t, "ckpt-net-restored", runtimeapi.NamespaceMode_CONTAINER)
	configs := []*runtimeapi.ContainerConfig{
		podCkptContainer("server", podServerScript, emptyDir), podCkptContainer("client", podClientScript, emptyDir),
	}
	restorePodFailure(t, d, n, rt, out, pod2, configs)

	resp, err := rt.RestorePod(ctx, &runtimeapi.RestorePodRequest{CheckpointPath: out, Config: pod2, ContainerConfigs: configs})
	if err != nil {
		t.Fatalf("RestorePod: %v", err)
	}
	ids := map[string]string{}
	for _, rc := range resp.RestoredContainers {
		ids[rc.Name] = rc.ContainerId
	}
	for _, name := range []string{"server", "client"} {
		if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ids[name]}); err != nil {
			t.Fatalf("StartContainer %s: %v", name, err)
		}
	}
	waitLast(t, rt, ids["server"], "/count.txt", serverAt+5)
	waitLast(t, rt, ids["client"], "/count.txt", clientAt+5)
	for _, name := range []string{"server", "client"} {
		wantContinued(t, name, strings.Fields(execSync(t, rt, ids[name], "cat", "/count.txt")))
	}
	if got := execSync(t, rt, ids["server"], "pidof", "httpd"); got != serverPids {
		t.Errorf("server's httpd pids %q after the restore, %q before: not the same process tree", got, serverPids)
	}
	// The client's fetches go on after the restore: it reconnects to the
	// restored listener (each fetch is a new connection).
	waitLast(t, rt, ids["client"], "/ok.txt", clientAt+3)
	ip2 := podIP(t, rt, resp.PodSandboxId)
	if ip2 == ip1 || !n.inSubnet(ip2) {
		t.Errorf("restored pod IP %s (was %s): want a new address of %s", ip2, ip1, n.Subnet)
	}
	// The restored listener answers on the new pod IP with the emptyDir's
	// file, which holds what was written before the checkpoint.
	body := waitHTTPGet(t, fmt.Sprintf("http://%s/written", net.JoinHostPort(ip2, "8080")))
	served := strings.Fields(body)
	if len(served) < len(written) || !slices.Equal(served[:len(written)], written) {
		t.Errorf("the restored server serves %d lines of /data/written, the emptyDir held %d before the restore: %v", len(served), len(written), served)
	}
	if len(written) < clientAt {
		t.Errorf("the emptyDir's /data/written has %d lines, the client had counted to %d at the checkpoint", len(written), clientAt)
	}
	stopRestored(t, rt, resp.PodSandboxId, ids["server"], ids["client"])
}

// checkpointPodFailure makes CheckpointPod fail after the first container
// is dumped and checks that nothing is left and both containers run on.
func checkpointPodFailure(t *testing.T, d *harness.Daemon, rt runtimeapi.RuntimeServiceClient, podID, server, client, ip, emptyDir string) {
	t.Helper()
	// The client's own fetches stop first (a fetch takes at most 3 s), so
	// that the only established connection is the one made here (a fetch
	// in flight made the first container dumped fail instead, in one VM
	// run of six).
	hold := filepath.Join(emptyDir, "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(hold)
	time.Sleep(3500 * time.Millisecond)
	// CheckpointPod dumps in container ID order: the second one holds a
	// connection from here, which CRIU will not dump without
	// tcp-established.
	second, port := client, "8081"
	if server > client {
		second, port = server, "8080"
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A partial request keeps httpd's child on the connection.
	if _, err := conn.Write([]byte("GET /")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	before := hostSnapshot(d)
	out := t.TempDir()
	_, err = rt.CheckpointPod(context.Background(), &runtimeapi.CheckpointPodRequest{PodSandboxId: podID, OutputPath: out, ContainerIds: []string{server, client}})
	if err == nil {
		t.Fatal("CheckpointPod succeeded with an established connection and no tcp-established")
	}
	t.Logf("CheckpointPod failed as it must: %v", err)
	if !strings.Contains(err.Error(), "checkpoint container "+second) {
		t.Errorf("CheckpointPod failed on another container than the second dumped (%s): %v", second, err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("the failed CheckpointPod left %d entries in its output dir", len(entries))
	}
	if diff := hostSnapshot(d).added(before); len(diff) != 0 {
		t.Errorf("the failed CheckpointPod left:\n%s", strings.Join(diff, "\n"))
	}
	for _, id := range []string{server, client} {
		if s := containerStatus(t, rt, id); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("container %s is %s after the failed CheckpointPod", id, s.State)
		}
		last := lastCount(t, rt, id, "/count.txt")
		waitLast(t, rt, id, "/count.txt", last+3)
	}
}

// restorePodFailure makes RestorePod fail after it ran the pod and created
// the first container and checks that nothing of the new pod is left and
// the checkpoint is unchanged.
func restorePodFailure(t *testing.T, d *harness.Daemon, n *podNet, rt runtimeapi.RuntimeServiceClient, ckpt string, pod *runtimeapi.PodSandboxConfig, configs []*runtimeapi.ContainerConfig) {
	t.Helper()
	before := hostSnapshot(d)
	sum := archiveTree(t, ckpt)
	bad := podCkptContainer("client", podClientScript, configs[1].Mounts[0].HostPath)
	bad.Image.Image = "registry.invalid/cricket/not-pulled:1"
	_, err := rt.RestorePod(context.Background(), &runtimeapi.RestorePodRequest{CheckpointPath: ckpt, Config: pod, ContainerConfigs: []*runtimeapi.ContainerConfig{configs[0], bad}})
	if err == nil {
		t.Fatal("RestorePod succeeded with a container whose image is not there")
	}
	t.Logf("RestorePod failed as it must: %v", err)
	if pods, err := rt.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{}); err != nil || len(pods.Items) != 0 {
		t.Errorf("after the failed RestorePod: pods %v, %v", pods.GetItems(), err)
	}
	if ctrs, err := rt.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{}); err != nil || len(ctrs.Containers) != 0 {
		t.Errorf("after the failed RestorePod: containers %v, %v", ctrs.GetContainers(), err)
	}
	left := append(leaks(t, d, nil, nil), networkLeaks(t, d, n, nil)...)
	left = append(left, podCgroupsLeft("pod-")...)
	left = append(left, hostSnapshot(d).added(before)...)
	if len(left) != 0 {
		t.Errorf("the failed RestorePod left:\n%s", strings.Join(left, "\n"))
	}
	if archiveTree(t, ckpt) != sum {
		t.Error("the failed RestorePod changed the checkpoint")
	}
}

// snapshot is what a failed checkpoint or restore could leave on the
// host: mounts, CRIU processes, cgroups, and files under the daemon's
// directory (outside container root filesystems, snapshot contents and
// overlay work dirs), /tmp and /run.
type snapshot map[string]bool

func hostSnapshot(d *harness.Daemon) snapshot {
	s := snapshot{}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			s["mount: "+f[4]] = true
		}
	}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range comms {
		if b, _ := os.ReadFile(p); strings.TrimSpace(string(b)) == "criu" {
			s["criu process: "+filepath.Dir(p)] = true
		}
	}
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, e fs.DirEntry, err error) error {
		// Cricket's cgroups only: systemd makes and drops its own meanwhile.
		if err == nil && e.IsDir() && strings.Contains(p, "cricket") {
			s["cgroup: "+p] = true
		}
		return nil
	})
	_ = filepath.WalkDir(d.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() && (e.Name() == "rootfs" || e.Name() == "work" || e.Name() == "merged") {
			return fs.SkipDir
		}
		s["file: "+p] = true
		// A snapshot's contents: the running containers change their
		// writable layers, and so does CRIU's dump, which works in their
		// mount namespace (the VM run saw /tmp copied up in one, CRIU's
		// temporary mount dir). A snapshot left behind shows as its dir.
		if e.IsDir() && e.Name() == "fs" && filepath.Base(filepath.Dir(filepath.Dir(p))) == "snapshots" {
			return fs.SkipDir
		}
		return nil
	})
	for _, dir := range []string{"/tmp", "/run"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			s["file: "+filepath.Join(dir, e.Name())] = true
		}
	}
	return s
}

// added lists what s has and before had not.
func (s snapshot) added(before snapshot) []string {
	var out []string
	for k := range s {
		if !before[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// archiveTree lists a tree's paths, modes and sizes.
func archiveTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d\n", p, fi.Mode(), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// wantContinued checks that counts are 1, 2, ..., n: a restored process
// went on from its memory, with no gap and no restart from 1.
func wantContinued(t *testing.T, name string, lines []string) {
	t.Helper()
	for i, l := range lines {
		if v, err := strconv.Atoi(l); err != nil || v != i+1 {
			t.Fatalf("%s: /count.txt line %d is %q: the restored process did not continue (file: %v)", name, i+1, l, lines)
		}
	}
}

// lastCount returns the last number in the container's file p.
func lastCount(t *testing.T, rt runtimeapi.RuntimeServiceClient, id, p string) int {
	t.Helper()
	v, err := strconv.Atoi(execSync(t, rt, id, "tail", "-n", "1", p))
	if err != nil {
		t.Fatalf("last line of %s in %s: %v", p, id, err)
	}
	return v
}

// waitLast waits until the last number in the container's file p has
// reached n.
func waitLast(t *testing.T, rt runtimeapi.RuntimeServiceClient, id, p string, n int) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("%s of %s to reach %d", p, id, n), 2*time.Minute, func() error {
		resp, err := rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"tail", "-n", "1", p}, Timeout: 10})
		if err != nil {
			return err
		}
		last := strings.TrimSpace(string(resp.Stdout))
		if v, err := strconv.Atoi(last); err != nil || v < n {
			return fmt.Errorf("last %q", last)
		}
		return nil
	})
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func waitHTTPGet(t *testing.T, url string) string {
	t.Helper()
	var body string
	testutil.Eventually(t, "GET "+url, 30*time.Second, func() error {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d, %v", resp.StatusCode, err)
		}
		body = string(b)
		return nil
	})
	return body
}
