package harness

import (
	"os/exec"
	"syscall"
	"time"
)

// Proc is a process a test started, waited for in the background so that
// its end can be awaited with a timeout and it never stays a zombie.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProc starts cmd, with its output and environment as set by the
// caller.
func StartProc(cmd *exec.Cmd) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the process's pid.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Exited is closed once the process has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitCode is the exit code of the ended process, -1 if a signal ended it
// or it still runs.
func (p *Proc) ExitCode() int {
	if p.Running() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// State describes how the process ended ("exit status 1", "signal:
// killed"), or is "running".
func (p *Proc) State() string {
	if p.Running() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// Signal sends sig and waits up to timeout for the process to exit; it
// reports whether it did.
func (p *Proc) Signal(sig syscall.Signal, timeout time.Duration) (exited bool) {
	if !p.Running() {
		return true
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop sends SIGTERM and waits up to grace, then sends SIGKILL and waits
// for the end. It reports whether the process ended on SIGTERM (or had
// already ended).
func (p *Proc) Stop(grace time.Duration) bool {
	if p.Signal(syscall.SIGTERM, grace) {
		return true
	}
	p.Kill()
	return false
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}
