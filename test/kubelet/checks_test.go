package kubelet

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/test/testutil"
)

// Labels the kubelet puts on every sandbox and container it creates.
const (
	podNameLabel       = "io.kubernetes.pod.name"
	containerNameLabel = "io.kubernetes.container.name"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// criContainers lists the containers of podName named name, newest
// attempt first.
func criContainers(t *testing.T, e *env, podName, name string) []*runtimeapi.Container {
	t.Helper()
	rt := e.cricketd.Runtime()
	resp, err := rt.ListContainers(ctxT(t), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{podNameLabel: podName, containerNameLabel: name},
	}})
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	cs := resp.GetContainers()
	sort.Slice(cs, func(i, j int) bool { return cs[i].GetMetadata().GetAttempt() > cs[j].GetMetadata().GetAttempt() })
	return cs
}

// running returns the running container podName/name through the CRI.
func running(t *testing.T, e *env, podName, name string) *runtimeapi.Container {
	t.Helper()
	for _, c := range criContainers(t, e, podName, name) {
		if c.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c
		}
	}
	t.Fatalf("no running container %s in pod %s", name, podName)
	return nil
}

// execSync runs cmd in podName/name through the CRI and returns its stdout.
func execSync(t *testing.T, e *env, podName, name string, cmd ...string) string {
	t.Helper()
	rt := e.cricketd.Runtime()
	c := running(t, e, podName, name)
	resp, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: c.GetId(), Cmd: cmd, Timeout: 30})
	if err != nil {
		t.Fatalf("ExecSync %v in %s/%s: %v", cmd, podName, name, err)
	}
	if resp.GetExitCode() != 0 {
		t.Fatalf("ExecSync %v in %s/%s: exit %d: %s%s", cmd, podName, name, resp.GetExitCode(), resp.GetStdout(), resp.GetStderr())
	}
	return strings.TrimSpace(string(resp.GetStdout()))
}

func getPod(t *testing.T, e *env, name string) *pod {
	t.Helper()
	pods, err := e.api.pods()
	if err != nil {
		t.Fatal(err)
	}
	p := pods[name]
	if p == nil {
		t.Fatalf("the kubelet does not list pod %s", name)
	}
	return p
}

func checkInit(t *testing.T, e *env, web string) {
	p := getPod(t, e, web)
	ic := p.container("init")
	if ic == nil || ic.State.Terminated == nil || ic.State.Terminated.ExitCode != 0 || ic.State.Terminated.Reason != "Completed" {
		t.Errorf("init container status: %s", describe(p))
	}
	rt := e.cricketd.Runtime()
	inits := criContainers(t, e, web, "init")
	if len(inits) != 1 {
		t.Fatalf("CRI lists %d init containers, want 1", len(inits))
	}
	is, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: inits[0].GetId()})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: running(t, e, web, "web").GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if st := is.GetStatus(); st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 0 || st.GetReason() != "Completed" {
		t.Errorf("CRI status of the init container: state %s exit %d reason %q", st.GetState(), st.GetExitCode(), st.GetReason())
	}
	if fin, start := is.GetStatus().GetFinishedAt(), ws.GetStatus().GetStartedAt(); start < fin {
		t.Errorf("web started at %d, before init finished at %d", start, fin)
	}
	if got := execSync(t, e, web, "web", "cat", "/www/index.html"); got != "hello-from-init" {
		t.Errorf("page written by the init container: %q", got)
	}
}

func checkSharedNetwork(t *testing.T, e *env, web string) {
	if got := execSync(t, e, web, "logger", "wget", "-qO-", "http://127.0.0.1:8080/index.html"); got != "hello-from-init" {
		t.Errorf("logger fetched %q from web over localhost", got)
	}
	rt := e.cricketd.Runtime()
	c := running(t, e, web, "web")
	st, err := rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: c.GetPodSandboxId()})
	if err != nil {
		t.Fatal(err)
	}
	if ip, kip := st.GetStatus().GetNetwork().GetIp(), getPod(t, e, web).Status.PodIP; ip == "" || ip != kip {
		t.Errorf("pod IP: CRI %q, kubelet %q", ip, kip)
	}
}

func checkHostPort(t *testing.T, e *env) {
	u := fmt.Sprintf("http://127.0.0.1:%d/index.html", e.hostPort)
	testutil.Eventually(t, "the hostPort to answer", time.Minute, func() error {
		b, err := httpGet(u)
		if err == nil && strings.TrimSpace(b) == "hello-from-init" {
			return nil
		}
		return fmt.Errorf("%q %v", b, err)
	})
}

func httpGet(u string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s", resp.Status)
	}
	return string(b), err
}

func checkResources(t *testing.T, e *env, web string) {
	if cgroupV2() {
		checkResourcesV2(t, e, web)
		return
	}
	p := getPod(t, e, web)
	// cgroup v1 without a cgroup namespace: the container sees the host's
	// paths, under the pod cgroup the kubelet made below its cgroupRoot.
	cg := execSync(t, e, web, "web", "cat", "/proc/self/cgroup")
	want := fmt.Sprintf("/%s/kubepods/burstable/pod%s/", e.cgroupRoot, p.Metadata.UID)
	if !strings.Contains(cg, ":memory:"+want) {
		t.Errorf("web's memory cgroup is not below %s:\n%s", want, cg)
	}
	for _, c := range []struct{ file, want string }{
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "67108864"},
		{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "20000"},
		{"/sys/fs/cgroup/cpu/cpu.shares", "102"},
	} {
		if got := execSync(t, e, web, "web", "cat", c.file); got != c.want {
			t.Errorf("%s in web = %q, want %q", c.file, got, c.want)
		}
	}
	rt := e.cricketd.Runtime()
	st, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: running(t, e, web, "web").GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.GetStatus().GetResources().GetLinux(); r.GetMemoryLimitInBytes() != 64<<20 || r.GetCpuQuota() != 20000 {
		t.Errorf("CRI ContainerStatus resources: %v", r)
	}
}

// checkResourcesV2: on cgroup v2 the container has a cgroup namespace and
// sees its own cgroup's files at /sys/fs/cgroup; where that cgroup is comes
// from its host pid.
func checkResourcesV2(t *testing.T, e *env, web string) {
	p := getPod(t, e, web)
	ctr := running(t, e, web, "web")
	st, err := e.cricketd.Runtime().ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: ctr.GetId(), Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil || info.Pid == 0 {
		t.Fatalf("pid of web from %q: %v", st.GetInfo()["info"], err)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", info.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("/%s/kubepods/burstable/pod%s/", e.cgroupRoot, p.Metadata.UID)
	if e.systemd {
		// The kubelet's pod slice, the runtime's scope in it.
		uid := strings.ReplaceAll(p.Metadata.UID, "-", "_")
		want = fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cricket-%s.scope", uid, ctr.GetId())
	}
	if !strings.Contains(string(cg), "0::"+want) {
		t.Errorf("web's cgroup is not %s:\n%s", want, cg)
	}
	if got := execSync(t, e, web, "web", "cat", "/proc/self/cgroup"); got != "0::/" {
		t.Errorf("web's /proc/self/cgroup = %q, want 0::/ (a cgroup namespace)", got)
	}
	for _, c := range []struct{ file, want string }{
		{"/sys/fs/cgroup/memory.max", "67108864"},
		{"/sys/fs/cgroup/cpu.max", "20000 100000"},
		// 100m is 102 shares, converted as opencontainers/cgroups does.
		{"/sys/fs/cgroup/cpu.weight", strconv.FormatUint(cgroups.CPUSharesToWeight(102), 10)},
	} {
		if got := execSync(t, e, web, "web", "cat", c.file); got != c.want {
			t.Errorf("%s in web = %q, want %q", c.file, got, c.want)
		}
	}
	if r := st.GetStatus().GetResources().GetLinux(); r.GetMemoryLimitInBytes() != 64<<20 || r.GetCpuQuota() != 20000 {
		t.Errorf("CRI ContainerStatus resources: %v", r)
	}
}

func checkReadiness(t *testing.T, e *env, web, crash string) {
	p := getPod(t, e, web)
	for _, name := range []string{"web", "logger"} {
		if c := p.container(name); c == nil || !c.Ready || c.State.Running == nil {
			t.Errorf("%s is not running and ready: %s", name, describe(p))
		}
	}
	testutil.Eventually(t, "crash/unready to run", 2*time.Minute, func() error {
		p := getPod(t, e, crash)
		c := p.container("unready")
		if c != nil && c.State.Running != nil {
			return nil
		}
		return errors.New(describe(p))
	})
	// A few probe periods: it must stay unready.
	time.Sleep(6 * time.Second)
	p = getPod(t, e, crash)
	if c := p.container("unready"); c == nil || c.Ready || c.State.Running == nil {
		t.Errorf("unready (HTTP probe on a closed port) should be running and not ready: %s", describe(p))
	}
	if p.condition("Ready") != "False" {
		t.Errorf("crash pod Ready = %q, want False", p.condition("Ready"))
	}
}

func checkCrashRestarts(t *testing.T, e *env, crash string) {
	testutil.Eventually(t, "crasher to be restarted twice", 4*time.Minute, func() error {
		p := getPod(t, e, crash)
		c := p.container("crasher")
		if c != nil && c.RestartCount >= 2 && c.LastState.Terminated != nil {
			return nil
		}
		return errors.New(describe(p))
	})
	p := getPod(t, e, crash)
	c := p.container("crasher")
	if c.LastState.Terminated.ExitCode != 3 || c.LastState.Terminated.Reason != "Error" {
		t.Errorf("crasher's last termination: %s, want Error exit 3", c.LastState)
	}
	// The runtime keeps the exited attempts the kubelet has not removed yet.
	rt := e.cricketd.Runtime()
	var exited int
	for _, cc := range criContainers(t, e, crash, "crasher") {
		if cc.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED {
			continue
		}
		exited++
		st, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: cc.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetStatus().GetExitCode() != 3 {
			t.Errorf("attempt %d of crasher exited %d, want 3", cc.GetMetadata().GetAttempt(), st.GetStatus().GetExitCode())
		}
	}
	if exited == 0 {
		t.Error("CRI lists no exited attempt of crasher")
	}
}

func checkLiveness(t *testing.T, e *env, crash string) {
	testutil.Eventually(t, "liveness to be restarted by its probe", 3*time.Minute, func() error {
		p := getPod(t, e, crash)
		c := p.container("liveness")
		if c != nil && c.RestartCount >= 1 && c.LastState.Terminated != nil {
			return nil
		}
		return errors.New(describe(p))
	})
	c := getPod(t, e, crash).container("liveness")
	// The container runs `sleep 3600` as its PID 1, which ignores SIGTERM:
	// it is killed after the 2s grace period, as on containerd.
	if c.LastState.Terminated.ExitCode != 137 {
		t.Errorf("liveness's last termination: %s, want exit 137", c.LastState)
	}
	b, _ := os.ReadFile(e.kubelet.log)
	if !bytes.Contains(b, []byte("failed liveness probe")) {
		t.Error(`the kubelet's log has no "failed liveness probe" line`)
	}
}

// checkLogRotation: the kubelet renames logger's 0.log when it passes
// containerLogMaxSize and calls ReopenContainerLog; the shim must then
// write to a new 0.log without losing or repeating a line.
func checkLogRotation(t *testing.T, e *env, web string) {
	p := getPod(t, e, web)
	dir := filepath.Join(e.podLogs, fmt.Sprintf("%s_%s_%s", p.Metadata.Namespace, p.Metadata.Name, p.Metadata.UID), "logger")
	testutil.Eventually(t, "two rotations of logger's log", 2*time.Minute, func() error {
		rotated, err := filepath.Glob(filepath.Join(dir, "0.log.*"))
		if err == nil && len(rotated) >= 2 {
			return nil
		}
		return fmt.Errorf("%v %v", rotated, err)
	})
	var last string
	for range 10 {
		ok, why := logContinuity(dir)
		if ok {
			t.Log(why)
			return
		}
		last = why
		time.Sleep(time.Second)
	}
	t.Errorf("logger's log lines are not continuous across the last rotation: %s", last)
}

var (
	lineNumber = regexp.MustCompile(`^\S+ stdout F line (\d+) 0+$`)
	// lineNumberRE finds a whole line of logger's output in a stream.
	lineNumberRE = regexp.MustCompile(`(?m)^line \d+ 0+$`)
)

// logContinuity reads the newest rotated file and 0.log of a container's
// log dir and checks that 0.log starts with the line after the rotated
// file's last one; a rotation during the read retries.
func logContinuity(dir string) (bool, string) {
	before, _ := filepath.Glob(filepath.Join(dir, "0.log.*"))
	var rotated []string
	for _, f := range before {
		if !strings.HasSuffix(f, ".tmp") {
			rotated = append(rotated, f)
		}
	}
	if len(rotated) > 2 {
		return false, fmt.Sprintf("%d rotated files, containerLogMaxFiles 3 allows 2: %v", len(rotated), rotated)
	}
	if len(rotated) == 0 {
		return false, "no rotated file"
	}
	sort.Strings(rotated)
	prev, err := logLines(rotated[len(rotated)-1])
	if err != nil {
		return false, err.Error()
	}
	cur, err := logLines(filepath.Join(dir, "0.log"))
	if err != nil {
		return false, err.Error()
	}
	after, _ := filepath.Glob(filepath.Join(dir, "0.log.*"))
	if fmt.Sprint(after) != fmt.Sprint(before) {
		return false, "rotated while reading"
	}
	if len(prev) == 0 || len(cur) == 0 {
		return false, fmt.Sprintf("%d lines in %s, %d in 0.log", len(prev), rotated[len(rotated)-1], len(cur))
	}
	for _, lines := range [][]int{prev, cur} {
		for i := 1; i < len(lines); i++ {
			if lines[i] != lines[i-1]+1 {
				return false, fmt.Sprintf("line %d follows line %d", lines[i], lines[i-1])
			}
		}
	}
	if cur[0] != prev[len(prev)-1]+1 {
		return false, fmt.Sprintf("0.log starts at line %d, the rotated file %s ends at %d", cur[0], rotated[len(rotated)-1], prev[len(prev)-1])
	}
	return true, fmt.Sprintf("rotated files %v; the newest holds lines %d-%d, 0.log continues with %d-%d",
		names(rotated), prev[0], prev[len(prev)-1], cur[0], cur[len(cur)-1])
}

func names(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// logLines returns the line numbers logger wrote into a CRI log file
// (gzipped when its name ends in .gz). Every line must be a full CRI log
// line.
func logLines(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
	}
	var out []int
	s := bufio.NewScanner(r)
	for s.Scan() {
		m := lineNumber.FindStringSubmatch(s.Text())
		if m == nil {
			return nil, fmt.Errorf("%s: not a logger line in the CRI format: %q", path, s.Text())
		}
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out, s.Err()
}

// checkKubeletExecAndLogs uses the kubelet's own /run (ExecSync) and
// /containerLogs (its reader of the CRI log files) endpoints.
func checkKubeletExecAndLogs(t *testing.T, e *env, web string) {
	b, err := e.api.secureDo("POST", "/run/default/"+web+"/web?cmd="+url.QueryEscape("cat /www/index.html"))
	if err != nil || strings.TrimSpace(string(b)) != "hello-from-init" {
		t.Errorf("kubelet /run in web: %q %v", b, err)
	}
	b, err = e.api.secureDo("GET", "/containerLogs/default/crash-"+e.node+"/crasher")
	if err != nil || !strings.Contains(string(b), "crashing") {
		t.Errorf("kubelet /containerLogs of crasher: %q %v", b, err)
	}
	// The tail is read from the newest file only, which is empty for a
	// moment after each rotation (every few seconds here): retry.
	testutil.Eventually(t, "kubelet /containerLogs of logger?tailLines=3", 30*time.Second, func() error {
		b, err := e.api.secureDo("GET", "/containerLogs/default/"+web+"/logger?tailLines=3")
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if err == nil && len(lines) == 3 && lineNumberRE.MatchString(lines[2]) {
			return nil
		}
		return fmt.Errorf("%q %v", b, err)
	})
}

// The part of the kubelet's stats summary this test reads.
type summary struct {
	Pods []struct {
		PodRef struct {
			Name string `json:"name"`
		} `json:"podRef"`
		Network *struct {
			RxBytes *uint64 `json:"rxBytes"`
		} `json:"network"`
		Containers []struct {
			Name string `json:"name"`
			CPU  struct {
				UsageCoreNanoSeconds *uint64 `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
			Memory struct {
				WorkingSetBytes *uint64 `json:"workingSetBytes"`
			} `json:"memory"`
			Logs *struct {
				UsedBytes *uint64 `json:"usedBytes"`
			} `json:"logs"`
		} `json:"containers"`
	} `json:"pods"`
}

func checkStatsSummary(t *testing.T, e *env, web string) {
	var network string
	testutil.Eventually(t, "stats of web's containers in /stats/summary", 2*time.Minute, func() error {
		b, err := e.api.readOnlyGet("/stats/summary")
		if err != nil {
			return err
		}
		var s summary
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		for _, p := range s.Pods {
			if p.PodRef.Name != web {
				continue
			}
			found := 0
			for _, c := range p.Containers {
				if (c.Name == "web" || c.Name == "logger") && c.CPU.UsageCoreNanoSeconds != nil && *c.CPU.UsageCoreNanoSeconds > 0 &&
					c.Memory.WorkingSetBytes != nil && *c.Memory.WorkingSetBytes > 0 {
					found++
				}
			}
			network = "none"
			if p.Network != nil && p.Network.RxBytes != nil {
				network = fmt.Sprintf("rxBytes %d", *p.Network.RxBytes)
			}
			if found == 2 {
				return nil
			}
			return fmt.Errorf("%d of web's 2 containers have CPU and memory stats", found)
		}
		return errors.New("web is not in the summary")
	})
	// The kubelet takes pod network stats from cAdvisor's view of the
	// sandbox's cgroup (containerd's pause container), or from
	// ListPodSandboxStats with the PodAndContainerStatsFromCRI gate.
	if strings.Contains(e.gates, "PodAndContainerStatsFromCRI=true") {
		if network == "none" {
			t.Error("web has no network stats in /stats/summary with PodAndContainerStatsFromCRI")
		}
	}
	t.Logf("web's pod network stats in /stats/summary: %s", network)
}

// checkTeardown removes the manifests: the kubelet must stop both pods,
// free the hostPort and remove the pods' cgroups (which it can only do
// once the runtime has removed its container cgroups inside them).
func checkTeardown(t *testing.T, e *env) {
	for _, f := range []string{"web.yaml", "crash.yaml"} {
		if err := os.Remove(filepath.Join(e.manifests, f)); err != nil {
			t.Fatal(err)
		}
	}
	rt := e.cricketd.Runtime()
	testutil.Eventually(t, "the kubelet to stop the pods", 3*time.Minute, func() error {
		pods, err := e.api.pods()
		if err != nil {
			return err
		}
		if len(pods) > 0 {
			return fmt.Errorf("the kubelet still lists %d pods", len(pods))
		}
		sbs, err := rt.ListPodSandbox(ctxT(t), &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
			State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
		}})
		if err != nil {
			return err
		}
		cs, err := rt.ListContainers(ctxT(t), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
			State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		}})
		if err != nil {
			return err
		}
		if len(sbs.GetItems()) == 0 && len(cs.GetContainers()) == 0 {
			return nil
		}
		return fmt.Errorf("%d ready sandboxes, %d running containers", len(sbs.GetItems()), len(cs.GetContainers()))
	})
	if b, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/index.html", e.hostPort)); err == nil {
		t.Errorf("hostPort %d still answers after the pod stopped: %q", e.hostPort, b)
	}
	testutil.Eventually(t, "the kubelet to remove the pod cgroups", 3*time.Minute, func() error {
		var pods []string
		for _, d := range cgroupsUnder(t, e.cgroupRoot) {
			// cgroupfs: pod<uid>; systemd: kubepods-<qos>-pod<uid>.slice
			if strings.HasPrefix(filepath.Base(d), "pod") || strings.Contains(d, "/pod") || strings.Contains(filepath.Base(d), "-pod") {
				pods = append(pods, d)
			}
		}
		if len(pods) == 0 {
			return nil
		}
		return fmt.Errorf("left: %v", pods)
	})
}

// removeAllPods stops and removes, through the CRI, the sandboxes the
// kubelet left (it garbage-collects them only after a while).
func removeAllPods(t *testing.T, e *env) {
	t.Helper()
	if !e.cricketd.Running() {
		return
	}
	rt := e.cricketd.Runtime()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Errorf("ListPodSandbox: %v", err)
		return
	}
	t.Logf("the kubelet left %d stopped sandboxes to its garbage collector; removing them", len(resp.GetItems()))
	for _, sb := range resp.GetItems() {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.GetId()}); err != nil {
			t.Errorf("StopPodSandbox %s: %v", sb.GetId(), err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.GetId()}); err != nil {
			t.Errorf("RemovePodSandbox %s: %v", sb.GetId(), err)
		}
	}
}

// criCallCounts reads cricketd's request counters by "RPC code".
func criCallCounts(port int) (map[string]int, error) {
	b, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`^cricket_cri_request_duration_seconds_count\{code="([^"]+)",rpc="([^"]+)"\} (\d+)`)
	out := map[string]int{}
	for _, line := range strings.Split(b, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[3])
			out[m[2]+" "+m[1]] += n
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cricket_cri_request_duration_seconds_count in /metrics")
	}
	return out, nil
}

// wsStream dials a kubelet streaming endpoint (exec, port-forward) on its
// main port with the v4 channel protocol, the one kubectl falls back to.
// Every message carries its channel in its first byte.
func wsStream(e *env, path string) (*websocket.Conn, error) {
	cfg, err := websocket.NewConfig(fmt.Sprintf("wss://127.0.0.1:%d%s", e.securePort, path), "https://127.0.0.1")
	if err != nil {
		return nil, err
	}
	cfg.Protocol = []string{"v4.channel.k8s.io"}
	cfg.TlsConfig = &tls.Config{InsecureSkipVerify: true}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, handshakeAnswer(e, path))
	}
	_ = ws.SetDeadline(time.Now().Add(30 * time.Second))
	return ws, nil
}

// checkKubeletStreaming execs a command, attaches to a container and
// forwards a port through the kubelet, which asks cricketd for a streaming
// URL (Exec, Attach, PortForward) and proxies the connection to cricketd's
// streaming server.
func checkKubeletStreaming(t *testing.T, e *env, web string) {
	t.Run("exec", func(t *testing.T) {
		ws, err := wsStream(e, "/exec/default/"+web+"/web?command=cat&command=/www/index.html&output=1&error=1")
		if err != nil {
			t.Fatalf("exec through the kubelet: %v", err)
		}
		defer ws.Close()
		var stdout, status bytes.Buffer
		for {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				if err != io.EOF {
					t.Errorf("exec stream: %v", err)
				}
				break
			}
			if len(msg) == 0 {
				continue
			}
			switch msg[0] {
			case 1:
				stdout.Write(msg[1:])
			case 3:
				status.Write(msg[1:])
			}
		}
		if strings.TrimSpace(stdout.String()) != "hello-from-init" {
			t.Errorf("exec stdout %q", stdout.String())
		}
		if !strings.Contains(status.String(), `"status":"Success"`) {
			t.Errorf("exec status %q", status.String())
		}
	})
	t.Run("attach", func(t *testing.T) {
		ws, err := wsStream(e, "/attach/default/"+web+"/logger?output=1&error=1")
		if err != nil {
			t.Fatalf("attach through the kubelet: %v", err)
		}
		defer ws.Close()
		var stdout bytes.Buffer
		for !lineNumberRE.MatchString(stdout.String()) {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				t.Fatalf("attach stream: %v (stdout so far %q)", err, stdout.String())
			}
			if len(msg) > 0 && msg[0] == 1 {
				stdout.Write(msg[1:])
			}
		}
	})
	t.Run("port-forward", func(t *testing.T) {
		ws, err := wsStream(e, "/portForward/default/"+web+"?port=8080")
		if err != nil {
			t.Fatalf("port-forward through the kubelet: %v", err)
		}
		defer ws.Close()
		if err := websocket.Message.Send(ws, append([]byte{0}, "GET /index.html HTTP/1.0\r\n\r\n"...)); err != nil {
			t.Fatal(err)
		}
		// Each channel starts with the port (2 bytes, little endian).
		var data bytes.Buffer
		seenPort := map[byte]bool{}
		for !strings.Contains(data.String(), "hello-from-init") {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				t.Fatalf("port-forward stream: %v (data so far %q)", err, data.String())
			}
			if len(msg) == 0 {
				continue
			}
			ch, payload := msg[0], msg[1:]
			if !seenPort[ch] {
				seenPort[ch] = true
				if len(payload) < 2 || binary.LittleEndian.Uint16(payload) != 8080 {
					t.Fatalf("channel %d starts with %v, want port 8080", ch, payload)
				}
				payload = payload[2:]
			}
			switch ch {
			case 0:
				data.Write(payload)
			case 1:
				if len(payload) > 0 {
					t.Fatalf("port-forward error: %s", payload)
				}
			}
		}
		if !strings.HasPrefix(data.String(), "HTTP/1.") {
			t.Errorf("port-forwarded answer: %q", data.String())
		}
	})
}

// handshakeAnswer repeats a websocket handshake that failed as a plain
// request, to report what the kubelet answered.
func handshakeAnswer(e *env, path string) string {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", e.securePort, path), nil)
	if err != nil {
		return err.Error()
	}
	for k, v := range map[string]string{
		"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v4.channel.k8s.io",
	} {
		req.Header.Set(k, v)
	}
	resp, err := e.api.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
}

// checkDaemonRestart stops cricketd under the running kubelet and starts it
// again: the containers run on (their shims hold them, as KillMode=process
// in deploy/cricketd.service allows), the restarted daemon recovers them,
// and the kubelet carries on with the same containers, restarting none.
func checkDaemonRestart(t *testing.T, e *env, web string) {
	before := getPod(t, e, web)
	counts, err := criCallCounts(e.metricsPort)
	if err != nil {
		t.Fatalf("read cricketd's metrics: %v", err)
	}
	if e.callsBefore == nil {
		e.callsBefore = map[string]int{}
	}
	for k, n := range counts {
		e.callsBefore[k] += n
	}
	start := fileSize(e.kubelet.log)
	if !e.cricketd.Stop() {
		t.Error("cricketd did not stop on SIGTERM")
	}
	if b, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/index.html", e.hostPort)); err != nil || strings.TrimSpace(b) != "hello-from-init" {
		t.Errorf("web does not answer while cricketd is stopped: %q %v", b, err)
	}
	startCricketd(t, e)
	testutil.Eventually(t, "the kubelet to see web Ready with the same containers", 2*time.Minute, func() error {
		p := getPod(t, e, web)
		if p.condition("Ready") != "True" {
			return errors.New(describe(p))
		}
		for _, c := range before.Status.ContainerStatuses {
			now := p.container(c.Name)
			if now == nil || now.ContainerID != c.ContainerID || now.RestartCount != c.RestartCount || now.State.Running == nil {
				return errors.New(describe(p))
			}
		}
		return nil
	})
	// Probes and relists through the new daemon.
	if got := execSync(t, e, web, "web", "cat", "/www/index.html"); got != "hello-from-init" {
		t.Errorf("ExecSync in web after the restart: %q", got)
	}
	time.Sleep(5 * time.Second)
	p := getPod(t, e, web)
	for _, c := range before.Status.ContainerStatuses {
		if now := p.container(c.Name); now == nil || now.ContainerID != c.ContainerID || now.RestartCount != c.RestartCount || !now.Ready {
			t.Errorf("%s changed across the restart: %s", c.Name, describe(p))
		}
	}
	e.quiet = append(e.quiet, [2]int64{start, fileSize(e.kubelet.log)})
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// absentHostPath is the web pod's hostPath volume (no type): nothing
// creates it before the pod starts, and the kubelet leaves a hostPath
// without a type to the runtime, which creates it as containerd and
// CRI-O do.
func absentHostPath(e *env) string {
	return filepath.Join(e.dir, "hostpath", "absent", "data")
}

func checkAbsentHostPath(t *testing.T, e *env, web string) {
	p := absentHostPath(e)
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("hostPath %s: %v, %v; want a 0755 directory", p, fi.Mode(), err)
	}
	execSync(t, e, web, "web", "sh", "-c", "echo from-web > /absent/f")
	if b, err := os.ReadFile(filepath.Join(p, "f")); err != nil || string(b) != "from-web\n" {
		t.Errorf("host sees %q, %v", b, err)
	}
}
