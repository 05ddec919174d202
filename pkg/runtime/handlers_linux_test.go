package runtime_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
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
	"github.com/cricket-cri/cricket/test/testutil"
)

// The builtin executor re-executes this test binary as libcontainer's init.
func init() {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		libcontainer.Init()
	}
}

// subreaper makes the test process the subreaper (runccli containers are
// orphaned by the runtime binary) and returns the process's reaper.
func subreaper(t *testing.T) *runtime.Reaper {
	t.Helper()
	if err := runtime.SetSubreaper(); err != nil {
		t.Fatal(err)
	}
	return runtime.ProcessReaper()
}

func TestHandlersRunBusybox(t *testing.T) {
	testutil.RequireRoot(t)
	reaper := subreaper(t)
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) { runBusybox(t, h, reaper) })
	}
}

func runBusybox(t *testing.T, h runtime.Handler, reaper *runtime.Reaper) {
	ctx := context.Background()
	dir := t.TempDir()
	id := "rt-" + h.Name
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	spec := runtimetest.Spec(id, "rootfs", "sh", "-c", "echo hello; hostname; echo pid=$$; exec sleep 1000")
	if err := runtime.WriteSpec(bundle, spec); err != nil {
		t.Fatal(err)
	}
	ex, err := runtime.New(h, runtime.Options{Root: filepath.Join(dir, "root"), Reaper: reaper})
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	begin := time.Now()
	pid, err := ex.Create(ctx, id, bundle, runtime.Stdio{Stdout: outW, Stderr: outW})
	outW.Close()
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = ex.Delete(context.Background(), id, true) })
	exits := reaper.Wait(pid)
	if st, err := ex.State(ctx, id); err != nil || st.Status != runtime.StatusCreated || st.Pid != pid {
		t.Fatalf("State after create = %+v, %v", st, err)
	}
	if err := ex.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("%s: create -> running in %v", h.Name, time.Since(begin))
	for _, want := range []string{"hello", id, "pid=1"} {
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("output line %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no output line %q", want)
		}
	}
	if st, err := ex.State(ctx, id); err != nil || st.Status != runtime.StatusRunning {
		t.Fatalf("State after start = %+v, %v", st, err)
	}

	checkExec(t, ex, reaper, id)
	pids, err := ex.Pids(ctx, id)
	if err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("Pids = %v, %v; want to contain %d", pids, err, pid)
	}
	if err := ex.Update(ctx, id, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(100))}}); err != nil {
		t.Errorf("Update: %v", err)
	}
	if err := ex.Kill(ctx, id, syscall.SIGKILL, false); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	select {
	case e := <-exits:
		if e.Status != 137 {
			t.Fatalf("exit status %d, want 137", e.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGKILL")
	}
	if err := ex.Delete(ctx, id, false); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := ex.State(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("State after delete: %v, want NotFound", err)
	}
	if err := ex.Delete(ctx, id, false); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	checkNoLeaks(t, id, rootfs)
}

func checkExec(t *testing.T, ex runtime.Executor, reaper *runtime.Reaper, id string) {
	t.Helper()
	ctx := context.Background()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := &specs.Process{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Env: []string{"PATH=/bin"}, Cwd: "/"}
	pid, err := ex.Exec(ctx, id, p, runtime.Stdio{Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	select {
	case e := <-reaper.Wait(pid):
		if e.Status != 3 {
			t.Fatalf("exec exit %d, want 3", e.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec did not exit")
	}
	out := make([]byte, 100)
	n, _ := r.Read(out)
	if got := string(out[:n]); !strings.Contains(got, "out") {
		t.Fatalf("exec output %q", got)
	}
	p.Args = []string{"no-such-command"}
	if _, err := ex.Exec(ctx, id, p, runtime.Stdio{}); err == nil {
		t.Fatal("exec of a missing command succeeded")
	} else {
		t.Logf("missing command: %v", err)
	}
}

// checkNoLeaks looks for the container's cgroup and mounts.
func checkNoLeaks(t *testing.T, id, rootfs string) {
	t.Helper()
	for _, d := range runtimetest.TestCgroupDirs() {
		if _, err := os.Stat(filepath.Join(d, id)); err == nil {
			t.Errorf("cgroup %s/%s left behind", d, id)
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), rootfs) {
		t.Errorf("mounts under %s left behind", rootfs)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if root, err := os.Readlink(p + "/root"); err == nil && root == rootfs {
			t.Errorf("container process %s left behind", p)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestExecutorLatency measures Create and Start per handler without the
// shim, $CRICKET_LATENCY_RUNS times (default: skipped).
func TestExecutorLatency(t *testing.T) {
	testutil.RequireRoot(t)
	runs, _ := strconv.Atoi(os.Getenv("CRICKET_LATENCY_RUNS"))
	if runs <= 0 {
		t.Skip("set CRICKET_LATENCY_RUNS")
	}
	reaper := subreaper(t)
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	ctx := context.Background()
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) {
			ex, err := runtime.New(h, runtime.Options{Root: filepath.Join(t.TempDir(), "root"), Reaper: reaper})
			if err != nil {
				t.Fatal(err)
			}
			var created, started []time.Duration
			for i := 0; i < runs; i++ {
				id := fmt.Sprintf("lat-%s-%d", h.Name, i)
				bundle := filepath.Join(dir, id)
				if err := os.MkdirAll(bundle, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := runtime.WriteSpec(bundle, runtimetest.Spec(id, rootfs, "sleep", "1000")); err != nil {
					t.Fatal(err)
				}
				begin := time.Now()
				pid, err := ex.Create(ctx, id, bundle, runtime.Stdio{})
				if err != nil {
					t.Fatal(err)
				}
				created = append(created, time.Since(begin))
				if err := ex.Start(ctx, id); err != nil {
					t.Fatal(err)
				}
				started = append(started, time.Since(begin))
				exits := reaper.Wait(pid)
				if err := ex.Delete(ctx, id, true); err != nil {
					t.Fatal(err)
				}
				<-exits
			}
			slices.Sort(created)
			slices.Sort(started)
			t.Logf("%s over %d runs: create median %v; create -> running median %v, min %v, max %v",
				h.Name, runs, created[runs/2], started[runs/2], started[0], started[runs-1])
		})
	}
}
