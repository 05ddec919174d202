package podinit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/test/testutil"
)

// starterEnv makes the test binary a starter (starter) instead of
// running tests.
const starterEnv = "PODINIT_TEST_STARTER"

func TestMain(m *testing.M) {
	if os.Getenv(starterEnv) == "1" {
		os.Exit(starter())
	}
	os.Exit(m.Run())
}

// starter starts a pod init that dies with it, in a user namespace as the
// daemon's transient inits are, prints its pid and waits to be killed.
func starter() int {
	runtime.LockOSThread()
	ids := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 410000, Size: 65536}}
	pid, err := Start(Options{Cloneflags: unix.CLONE_NEWUSER, UIDMappings: ids, GIDMappings: ids, DieWithStarter: true})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(pid)
	select {}
}

func isPodInit(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(cmdline), Arg)
}

// TestStartDiesWithStarter: a pod init started with DieWithStarter ends
// when its starter is SIGKILLed. A daemon killed while it held such an
// init (a user-namespace pod whose namespaces it was pinning) left it
// running for good: test/fault found 60 after one run, holding the
// files they inherited open.
func TestStartDiesWithStarter(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), starterEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("starter: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("starter said %q", line)
	}
	t.Cleanup(func() {
		if isPodInit(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !isPodInit(pid) {
		t.Fatalf("pod init %d is not running", pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); isPodInit(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pod init %d still runs 5 s after its starter was killed", pid)
		}
	}
}

// TestKillFindsUnrecordedInit: a daemon killed after it started a pod
// init but before it recorded the pid left a record that says the init
// was starting; Kill finds the init by the tag it was started with.
// test/fault found 5 shared-pid pod inits left after a full run.
func TestKillFindsUnrecordedInit(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	other := t.TempDir()
	if err := MarkStarting(dir); err != nil {
		t.Fatal(err)
	}
	pid, err := Start(Options{Cloneflags: unix.CLONE_NEWPID, Tag: dir})
	if err != nil {
		t.Fatal(err)
	}
	bystander, err := Start(Options{Cloneflags: unix.CLONE_NEWPID, Tag: other})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range []int{pid, bystander} {
			if isPodInit(p) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	if err := Kill(dir); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); isPodInit(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pod init %d started for %s, never recorded, still runs after Kill", pid, dir)
		}
	}
	if !isPodInit(bystander) {
		t.Errorf("Kill(%s) killed the pod init of %s", dir, other)
	}
}

// TestInitWithoutItsDirExits: an init whose tag names no dir (its pod
// was torn down before it got going, test/fault) exits at once.
func TestInitWithoutItsDirExits(t *testing.T) {
	testutil.RequireRoot(t)
	gone := t.TempDir() + "/ns"
	pid, err := Start(Options{Cloneflags: unix.CLONE_NEWPID, Tag: gone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if isPodInit(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); isPodInit(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pod init %d for the missing dir %s still runs", pid, gone)
		}
	}
}

// TestStartWithLabel: a pod init with a label is started at it: the exec
// label is set on the thread that forks it, and cleared on that thread
// afterwards (found in the enforcing test/vm node: the init ran at the
// engine's label, which the pod's containers, at PID 1 of their shared
// pid namespace, could not read). Without a label none is set.
func TestStartWithLabel(t *testing.T) {
	type call struct {
		label string
		tid   int
	}
	var calls []call
	var fail error
	orig := setExecLabel
	t.Cleanup(func() { setExecLabel = orig })
	setExecLabel = func(l string) error {
		calls = append(calls, call{l, unix.Gettid()})
		return fail
	}

	pid, err := Start(Options{Binary: "/bin/true", Label: "system_u:system_r:container_t:s0:c1,c2"})
	if err != nil {
		t.Fatal(err)
	}
	if pid <= 0 {
		t.Fatalf("pid %d", pid)
	}
	if len(calls) != 2 || calls[0].label != "system_u:system_r:container_t:s0:c1,c2" || calls[1].label != "" || calls[0].tid != calls[1].tid {
		t.Fatalf("exec label calls %+v, want the label then none, on one thread", calls)
	}

	calls = nil
	if _, err := Start(Options{Binary: "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Fatalf("exec label set without a label: %+v", calls)
	}

	calls, fail = nil, fmt.Errorf("no SELinux")
	if _, err := Start(Options{Binary: "/bin/true", Label: "l"}); err == nil || !strings.Contains(err.Error(), "no SELinux") {
		t.Fatalf("err = %v, want the exec label's error", err)
	}
	if len(calls) != 1 {
		t.Fatalf("exec label calls %+v after a failure, want one", calls)
	}
}

// TestStartFromExe: with Exe the init is executed from the open file, not
// from Binary's path (which the init's user may not be able to reach).
func TestStartFromExe(t *testing.T) {
	exe, err := os.Open("/bin/true")
	if err != nil {
		t.Skip("no /bin/true on this host")
	}
	defer exe.Close()
	if _, err := Start(Options{Binary: "/nonexistent/pod-init"}); err == nil {
		t.Fatal("started a binary that does not exist")
	}
	if _, err := Start(Options{Binary: "/nonexistent/pod-init", Exe: exe}); err != nil {
		t.Fatalf("start through the open file: %v", err)
	}
}
