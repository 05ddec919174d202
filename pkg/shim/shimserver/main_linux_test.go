package shimserver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	_ "github.com/cricket-cri/cricket/pkg/mainthread"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/runtime/runtimetest"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
	"github.com/cricket-cri/cricket/test/testutil"
)

// spawnArg makes the test binary start a shim and then wait to be killed,
// so that the test can kill the shim's parent.
const spawnArg = "__spawn_shim"

// The test binary doubles as cricket-shim: the shim, libcontainer's init and
// a short-lived parent for the shim.
func init() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case shimapi.Arg:
		os.Exit(Main(os.Args[2:]))
	case runtime.InitArg:
		libcontainer.Init()
	case spawnArg:
		c, err := shimclient.Start(context.Background(), shimclient.Options{PodID: os.Args[2], StateDir: os.Args[3], Binary: shimBinary()})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(info.Pid)
		select {}
	}
}

// shimBinary is the binary to run shims from: $CRICKET_SHIM_BINARY (a
// cricket-shim build, to measure the real thing) or this test binary.
func shimBinary() string { return os.Getenv("CRICKET_SHIM_BINARY") }

func TestShimRunsContainers(t *testing.T) {
	testutil.RequireRoot(t)
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) { runShim(t, h, rootfs) })
	}
}

// spawnOrphanShim starts the pod's shim from a helper process, kills the
// helper with SIGKILL and returns the shim's pid.
func spawnOrphanShim(t *testing.T, podID, stateDir string) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, spawnArg, podID, stateDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("spawner said %q", line)
	}
	time.Sleep(50 * time.Millisecond)
	if !alive(pid) {
		t.Fatalf("shim %d died with its parent", pid)
	}
	if ppid := procStat(pid)[1]; ppid == strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("shim %d still has its dead parent %s", pid, ppid)
	}
	return pid
}

// procStat returns the state and ppid fields of /proc/<pid>/stat.
func procStat(pid int) [2]string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return [2]string{}
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return [2]string{f[0], f[1]}
}

// waitLockFree waits, up to 10 s, until nobody holds the flock on path.
func waitLockFree(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s still locked 10 s after its shim died", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func alive(pid int) bool {
	st := procStat(pid)[0]
	return st != "" && st != "Z"
}

func writeBundle(t *testing.T, dir, id, rootfs string, args ...string) string {
	t.Helper()
	bundle := filepath.Join(dir, "bundles", id)
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := runtime.WriteSpec(bundle, runtimetest.Spec(id, rootfs, args...)); err != nil {
		t.Fatal(err)
	}
	return bundle
}

func runShim(t *testing.T, h runtime.Handler, rootfs string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "pod")
	podID := "pod-" + h.Name
	shimPid := spawnOrphanShim(t, podID, stateDir)
	c, err := shimclient.Start(ctx, shimclient.Options{PodID: podID, StateDir: stateDir, Binary: shimBinary()})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(ctx); err != nil || info.Pid != shimPid {
		t.Fatalf("reconnected to %+v, %v; want shim %d", info, err, shimPid)
	}
	t.Cleanup(func() { stopShim(t, c, shimPid); c.Close() })

	id := "sh-" + h.Name
	logPath := filepath.Join(dir, "c.log")
	bundle := writeBundle(t, dir, id, rootfs, "sh", "-c", "echo hello; echo err >&2; exec sleep 1000")
	begin := time.Now()
	if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: bundle, Handler: h, LogPath: logPath}); err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	created := time.Since(begin)
	st, err := c.Start(ctx, id)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("%s: create -> running through the shim in %v (create %v)", h.Name, time.Since(begin), created)
	waitLog(t, logPath, " stdout F hello\n", " stderr F err\n")
	checkShimExec(t, c, id)
	t.Logf("%s: shim pid %d RSS %s KiB with one sleeping container", h.Name, shimPid, rss(shimPid))
	time.Sleep(trimDelay + 500*time.Millisecond)
	t.Logf("%s: shim pid %d RSS %s KiB with one sleeping container, idle", h.Name, shimPid, rss(shimPid))
	if os.Getenv("CRICKET_SMAPS") != "" {
		out, _ := exec.Command("python3", os.Getenv("CRICKET_SMAPS"), strconv.Itoa(shimPid)).CombinedOutput()
		t.Logf("%s", out)
	}

	c2, err := shimclient.Connect(ctx, shimapi.SocketPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	if st2, err := c2.State(ctx, id); err != nil || st2.Status != shimapi.StatusRunning || st2.Pid != st.Pid {
		t.Fatalf("State over a new connection = %+v, %v", st2, err)
	}
	c2.Close()

	if err := c.Kill(ctx, id, syscall.SIGKILL, false); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	st, err = c.Wait(ctx, id)
	if err != nil || st.Exit.ExitCode != 137 || st.Exit.Signal != int(syscall.SIGKILL) {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	recs, err := shimclient.ReadRecords(stateDir)
	if err != nil || len(recs) != 1 || recs[0].Exit == nil || recs[0].Exit.ExitCode != 137 {
		t.Fatalf("ReadRecords = %+v, %v", recs, err)
	}
	checkNoZombies(t, shimPid)
	if _, err := c.Delete(ctx, id, false); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.State(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("State after delete: %v", err)
	}

	// A short-lived container: its exit code is recorded.
	id2 := "exit-" + h.Name
	bundle2 := writeBundle(t, dir, id2, rootfs, "sh", "-c", "exit 5")
	if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id2, Bundle: bundle2, Handler: h}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(ctx, id2); err != nil || st.Exit.ExitCode != 5 || st.Exit.OOMKilled {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if _, err := c.Delete(ctx, id2, false); err != nil {
		t.Fatal(err)
	}
	checkNoZombies(t, shimPid)
	checkNoLeftovers(t, rootfs, id, id2)
}

func checkShimExec(t *testing.T, c *shimclient.Client, id string) {
	t.Helper()
	ctx := context.Background()
	p := runtimetest.Spec(id, "/").Process
	p.Args = []string{"sh", "-c", "echo out; echo err >&2; exit 3"}
	res, err := c.ExecSync(ctx, shimapi.ExecRequest{ID: id, Process: p})
	if err != nil || res.ExitCode != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Fatalf("ExecSync = %+v, %v", res, err)
	}
	p.Args = []string{"sleep", "30"}
	begin := time.Now()
	res, err = c.ExecSync(ctx, shimapi.ExecRequest{ID: id, Process: p, Timeout: 200 * time.Millisecond})
	if err != nil || !res.TimedOut || time.Since(begin) > 5*time.Second {
		t.Fatalf("ExecSync with timeout = %+v, %v after %v", res, err, time.Since(begin))
	}
	p.Args = []string{"no-such-command"}
	if _, err := c.ExecSync(ctx, shimapi.ExecRequest{ID: id, Process: p}); err == nil {
		t.Fatal("exec of a missing command succeeded")
	}
}

func waitLog(t *testing.T, path string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(data), w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s lacks %q:\n%s", path, missing, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rss is ps's RSS of pid in KiB, with the anonymous and file-backed split
// from smaps_rollup.
func rss(pid int) string {
	out, _ := exec.Command("ps", "-o", "rss=", "-p", strconv.Itoa(pid)).Output()
	s := strings.TrimSpace(string(out))
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "Anonymous:" || f[0] == "Pss_File:" || f[0] == "Pss_Anon:") {
			s += " " + f[0] + f[1]
		}
	}
	return s
}

// checkNoZombies fails when a child of the shim stays a zombie.
func checkNoZombies(t *testing.T, shimPid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		var zombies []string
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			pid, _ := strconv.Atoi(filepath.Base(d))
			if st := procStat(pid); st[0] == "Z" && st[1] == strconv.Itoa(shimPid) {
				zombies = append(zombies, d)
			}
		}
		if len(zombies) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("zombie children of the shim: %v", zombies)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkNoLeftovers(t *testing.T, rootfs string, ids ...string) {
	t.Helper()
	for _, d := range runtimetest.TestCgroupDirs() {
		for _, id := range ids {
			if _, err := os.Stat(filepath.Join(d, id)); err == nil {
				t.Errorf("cgroup %s/%s left behind", d, id)
			}
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), rootfs) {
		t.Errorf("mounts of %s left behind", rootfs)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if root, err := os.Readlink(p + "/root"); err == nil && root == rootfs {
			t.Errorf("container process %s left behind", p)
		}
	}
}

func stopShim(t *testing.T, c *shimclient.Client, pid int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx, true); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("shim %d still running after Shutdown", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStartLatency measures create -> running through the shim per handler,
// $CRICKET_LATENCY_RUNS times (default: skipped), and logs the median.
func TestStartLatency(t *testing.T) {
	testutil.RequireRoot(t)
	runs, _ := strconv.Atoi(os.Getenv("CRICKET_LATENCY_RUNS"))
	if runs <= 0 {
		t.Skip("set CRICKET_LATENCY_RUNS")
	}
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	ctx := context.Background()
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) {
			stateDir := filepath.Join(t.TempDir(), "pod")
			c, err := shimclient.Start(ctx, shimclient.Options{PodID: "lat-" + h.Name, StateDir: stateDir, Binary: shimBinary()})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := c.Info(ctx)
			t.Cleanup(func() { stopShim(t, c, info.Pid); c.Close() })
			var d []time.Duration
			for i := 0; i < runs; i++ {
				id := fmt.Sprintf("lat-%s-%d", h.Name, i)
				bundle := writeBundle(t, dir, id, rootfs, "sleep", "1000")
				begin := time.Now()
				if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: bundle, Handler: h}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Start(ctx, id); err != nil {
					t.Fatal(err)
				}
				d = append(d, time.Since(begin))
				if _, err := c.Delete(ctx, id, true); err != nil {
					t.Fatal(err)
				}
			}
			slices.Sort(d)
			t.Logf("%s: create -> running over %d runs: median %v, min %v, p90 %v, max %v",
				h.Name, runs, d[len(d)/2], d[0], d[len(d)*9/10], d[len(d)-1])
		})
	}
}

func TestShimRecordsOOMKill(t *testing.T) {
	testutil.RequireRoot(t)
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) {
			c, err := shimclient.Start(ctx, shimclient.Options{PodID: "oom-" + h.Name, StateDir: filepath.Join(t.TempDir(), "pod"), Binary: shimBinary()})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := c.Info(ctx)
			t.Cleanup(func() { stopShim(t, c, info.Pid); c.Close() })
			id := "oom-" + h.Name
			spec := runtimetest.Spec(id, rootfs, "sh", "-c", `x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived`)
			limit := int64(16 << 20)
			spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
			bundle := filepath.Join(dir, id)
			if err := os.MkdirAll(bundle, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := runtime.WriteSpec(bundle, spec); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: bundle, Handler: h}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Start(ctx, id); err != nil {
				t.Fatal(err)
			}
			st, err := c.Wait(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Exit.OOMKilled || st.Exit.ExitCode != 137 {
				t.Fatalf("exit %+v, want OOM kill with 137", st.Exit)
			}
			if _, err := c.Delete(ctx, id, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestShimMemory starts $CRICKET_RSS_PODS shims (default: skipped), each
// with one sleeping busybox container, waits until they are idle and logs
// their mean RSS (ps), PSS (file pages shared between the shims divided
// among them) and private anonymous memory.
func TestShimMemory(t *testing.T) {
	testutil.RequireRoot(t)
	pods, _ := strconv.Atoi(os.Getenv("CRICKET_RSS_PODS"))
	if pods <= 0 {
		t.Skip("set CRICKET_RSS_PODS")
	}
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	ctx := context.Background()
	h := runtimetest.Handlers(t)[0]
	var pids []int
	for i := 0; i < pods; i++ {
		podID := fmt.Sprintf("mem-%d", i)
		c, err := shimclient.Start(ctx, shimclient.Options{PodID: podID, StateDir: filepath.Join(dir, podID), Binary: shimBinary()})
		if err != nil {
			t.Fatal(err)
		}
		info, _ := c.Info(ctx)
		t.Cleanup(func() { stopShim(t, c, info.Pid); c.Close() })
		pids = append(pids, info.Pid)
		id := podID + "-c"
		bundle := writeBundle(t, dir, id, rootfs, "sleep", "1000")
		if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: bundle, Handler: h, LogPath: filepath.Join(dir, id+".log")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(trimDelay + time.Second)
	var rssSum, pssSum, anonSum int
	for _, pid := range pids {
		r, _ := strconv.Atoi(strings.Fields(rss(pid))[0])
		rssSum += r
		pssSum += smapsField(pid, "Pss:")
		anonSum += smapsField(pid, "Anonymous:")
	}
	n := len(pids)
	if os.Getenv("CRICKET_SMAPS") != "" {
		out, _ := exec.Command("python3", os.Getenv("CRICKET_SMAPS"), strconv.Itoa(pids[0])).CombinedOutput()
		t.Logf("%s", out)
	}
	t.Logf("%d idle shims, one sleeping container each: mean RSS %d KiB, PSS %d KiB, anonymous %d KiB",
		n, rssSum/n, pssSum/n, anonSum/n)
}

func smapsField(pid int, field string) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// TestShimAdoptsAfterShimDeath kills a shim with SIGKILL: its container
// keeps running, a new shim adopts it, and it can still be stopped and
// removed without leaks.
func TestShimAdoptsAfterShimDeath(t *testing.T) {
	testutil.RequireRoot(t)
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) {
			opts := shimclient.Options{PodID: "adopt-" + h.Name, StateDir: filepath.Join(t.TempDir(), "pod"), Binary: shimBinary()}
			c, err := shimclient.Start(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			info, _ := c.Info(ctx)
			id := "adopt-" + h.Name
			bundle := writeBundle(t, dir, id, rootfs, "sleep", "1000")
			if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: bundle, Handler: h}); err != nil {
				t.Fatal(err)
			}
			st, err := c.Start(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if err := syscall.Kill(info.Pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for alive(info.Pid) {
				time.Sleep(10 * time.Millisecond)
			}
			// A killed Go shim's leader shows "Z" while its other threads,
			// which share its files, are still exiting: its lock is free
			// only once they are gone. The daemon gets Unavailable in that
			// window and retries; the test waits it out.
			waitLockFree(t, filepath.Join(opts.StateDir, lockName))
			if !alive(st.Pid) {
				t.Fatal("container died with its shim")
			}

			c, err = shimclient.Start(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			info2, _ := c.Info(ctx)
			t.Cleanup(func() { stopShim(t, c, info2.Pid); c.Close() })
			got, err := c.State(ctx, id)
			if err != nil || got.Status != shimapi.StatusRunning || !got.Adopted || got.Pid != st.Pid {
				t.Fatalf("adopted state = %+v, %v", got, err)
			}
			if err := c.Kill(ctx, id, syscall.SIGKILL, true); err != nil {
				t.Fatal(err)
			}
			if got, err = c.Wait(ctx, id); err != nil || got.Exit.ExitCode != shimapi.ExitUnknown {
				t.Fatalf("Wait = %+v, %v", got, err)
			}
			if _, err := c.Delete(ctx, id, false); err != nil {
				t.Fatal(err)
			}
			checkNoLeftovers(t, rootfs, id)
		})
	}
}

// TestShimTerminal runs a container with a pty: its output reaches the
// log as stdout records, with "\n" line ends.
func TestShimTerminal(t *testing.T) {
	testutil.RequireRoot(t)
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) {
			c, err := shimclient.Start(ctx, shimclient.Options{PodID: "tty-" + h.Name, StateDir: filepath.Join(t.TempDir(), "pod"), Binary: shimBinary()})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := c.Info(ctx)
			t.Cleanup(func() { stopShim(t, c, info.Pid); c.Close() })
			id := "tty-" + h.Name
			spec := runtimetest.Spec(id, rootfs, "sh", "-c", "tty; echo hi")
			spec.Process.Terminal = true
			bundle := filepath.Join(dir, id)
			if err := os.MkdirAll(bundle, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := runtime.WriteSpec(bundle, spec); err != nil {
				t.Fatal(err)
			}
			logPath := filepath.Join(dir, id+".log")
			if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: bundle, Handler: h, LogPath: logPath, Terminal: true, Stdin: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Start(ctx, id); err != nil {
				t.Fatal(err)
			}
			if st, err := c.Wait(ctx, id); err != nil || st.Exit.ExitCode != 0 {
				t.Fatalf("Wait = %+v, %v", st, err)
			}
			waitLog(t, logPath, " stdout F /dev/pts/0\n", " stdout F hi\n")
			if _, err := c.Delete(ctx, id, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A shim runs with one P whatever GOMAXPROCS the daemon has, unless the
// daemon's Options.Env says otherwise.
func TestShimRuntimeEnv(t *testing.T) {
	testutil.RequireRoot(t)
	t.Setenv("GOMAXPROCS", "7")
	cases := []struct {
		desc string
		env  []string
		want string
	}{
		{desc: "default", want: "GOMAXPROCS=1"},
		{desc: "Options.Env overrides", env: []string{"GOMAXPROCS=2"}, want: "GOMAXPROCS=2"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := shimclient.Start(ctx, shimclient.Options{PodID: "env", StateDir: filepath.Join(t.TempDir(), "pod"), Binary: shimBinary(), Env: tc.env})
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stopShim(t, c, info.Pid); c.Close() })
			environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", info.Pid))
			if err != nil {
				t.Fatal(err)
			}
			last := ""
			for _, kv := range strings.Split(string(environ), "\x00") {
				if strings.HasPrefix(kv, "GOMAXPROCS=") {
					last = kv
				}
			}
			// os/exec keeps only the last of duplicate keys.
			if last != tc.want {
				t.Errorf("shim environment has %q, want %q", last, tc.want)
			}
		})
	}
}
