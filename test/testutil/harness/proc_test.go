package harness

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestProcStop(t *testing.T) {
	cases := []struct {
		desc   string
		script string
		onTerm bool
	}{
		{desc: "ends on SIGTERM", script: "sleep 30", onTerm: true},
		{desc: "ignores SIGTERM", script: "trap '' TERM; while :; do sleep 0.05; done", onTerm: false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := StartProc(exec.Command("sh", "-c", tc.script))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // let the shell set its trap
			if got := p.Stop(300 * time.Millisecond); got != tc.onTerm {
				t.Errorf("Stop = %v, want %v", got, tc.onTerm)
			}
			if p.Running() {
				t.Error("still running after Stop")
			}
		})
	}
}

func TestProcExitCode(t *testing.T) {
	p, err := StartProc(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if got := p.ExitCode(); got != 3 {
		t.Errorf("ExitCode = %d, want 3", got)
	}
	if !p.Signal(syscall.SIGTERM, time.Second) {
		t.Error("Signal on an ended process did not report it ended")
	}
}
