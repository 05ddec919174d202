package runtime

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func testReaper(t testing.TB) *Reaper {
	t.Helper()
	return ProcessReaper()
}

// startChild starts a child under Hold, as executors do, and returns its pid.
func startChild(t *testing.T, r *Reaper, args ...string) int {
	t.Helper()
	release := r.Hold()
	defer release()
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestReaperCollectsExits(t *testing.T) {
	r := testReaper(t)
	tests := []struct {
		desc   string
		args   []string
		kill   bool
		status int
		signal syscall.Signal
	}{
		{desc: "exit code", args: []string{"/bin/sh", "-c", "exit 3"}, status: 3},
		{desc: "success", args: []string{"/bin/true"}, status: 0},
		{desc: "killed", args: []string{"/bin/sleep", "100"}, kill: true, status: 137, signal: syscall.SIGKILL},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			pid := startChild(t, r, tc.args...)
			if tc.kill {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			select {
			case e := <-r.Wait(pid):
				if e.Pid != pid || e.Status != tc.status || e.Signal != tc.signal {
					t.Fatalf("exit = %+v, want status %d signal %d", e, tc.status, tc.signal)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no exit")
			}
		})
	}
}

func TestReaperWaitAfterExit(t *testing.T) {
	r := testReaper(t)
	pid := startChild(t, r, "/bin/sh", "-c", "exit 7")
	// Let the reaper collect it before anyone waits: the exit is kept.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case e := <-r.Wait(pid):
		if e.Status != 7 {
			t.Fatalf("status = %d", e.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit")
	}
}

func TestReaperHoldLetsExecCmdWait(t *testing.T) {
	r := testReaper(t)
	for i := 0; i < 20; i++ {
		release := r.Hold()
		err := exec.Command("/bin/true").Run()
		release()
		if err != nil {
			t.Fatalf("run %d: %v (reaper stole the exit?)", i, err)
		}
	}
	_ = os.Getpid()
}
