package shimclient

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
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
			if err := NewPool(Options{}).Stop(context.Background(), tc.id, dir); err != nil {
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
