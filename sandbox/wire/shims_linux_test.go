package wire

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
	"github.com/cricket-cri/cricket/sandbox"
)

// TestStopKillsShimWithoutPidFile: a shim whose daemon died before the
// shim wrote its pid file (and before it listened) is found by its command
// line and killed, for the pod's own ID or for a state dir no record
// names (no ID); a process naming another state dir is left alone.
func TestStopKillsShimWithoutPidFile(t *testing.T) {
	for _, tc := range []struct{ desc, id string }{{desc: "pod ID", id: "abc"}, {desc: "no ID"}} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "0123456789abcdef")
			start := func(state string) *exec.Cmd {
				// "; :" keeps sh from exec'ing sleep, which would drop
				// the shim-like arguments.
				cmd := exec.Command("/bin/sh", "-c", "sleep 60; :", shimapi.Arg, "--pod", "abc", "--state", state)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				return cmd
			}
			target, other := start(dir), start(dir+"-other")
			exited := make(chan struct{})
			go func() { _ = target.Wait(); close(exited) }()
			p := newShims(shimclient.Options{}, handlerLookup{})
			if err := p.Stop(context.Background(), sandbox.ShimPod{ID: tc.id, StateDir: dir}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Fatal("the shim without pid file still runs")
			}
			if err := other.Process.Signal(syscall.Signal(0)); err != nil {
				t.Error("the process of another state dir was killed")
			}
		})
	}
}

func TestProcessState(t *testing.T) {
	at := time.Unix(100, 0)
	cases := []struct {
		desc        string
		st          shimapi.ContainerState
		wantRunning bool
		wantCode    int32
		wantOOM     bool
		wantExit    bool
	}{
		{desc: "created", st: shimapi.ContainerState{Status: shimapi.StatusCreated, Pid: 5}},
		{desc: "running", st: shimapi.ContainerState{Status: shimapi.StatusRunning, Pid: 5}, wantRunning: true},
		{desc: "exited", st: shimapi.ContainerState{Status: shimapi.StatusExited, Exit: &shimapi.ExitRecord{ExitCode: 3, ExitedAt: at}}, wantCode: 3, wantExit: true},
		{desc: "oom killed", st: shimapi.ContainerState{Status: shimapi.StatusExited, Exit: &shimapi.ExitRecord{ExitCode: 137, OOMKilled: true}}, wantCode: 137, wantOOM: true, wantExit: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ps := processState(&tc.st)
			if ps.Running != tc.wantRunning || (ps.Exit != nil) != tc.wantExit {
				t.Fatalf("state = %+v", ps)
			}
			if ps.Exit != nil && (ps.Exit.Code != tc.wantCode || ps.Exit.OOMKilled != tc.wantOOM || !ps.Exit.At.Equal(tc.st.Exit.ExitedAt)) {
				t.Errorf("exit = %+v", ps.Exit)
			}
		})
	}
}
