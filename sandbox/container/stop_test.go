package container_test

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestStop(t *testing.T) {
	cases := []struct {
		desc        string
		image       string
		signal      runtimeapi.Signal
		ignore      []syscall.Signal
		timeout     time.Duration
		wantSignals []syscall.Signal
		wantCode    int32
	}{
		{desc: "SIGTERM by default", image: "busybox", timeout: time.Second, wantSignals: []syscall.Signal{syscall.SIGTERM}, wantCode: 143},
		{desc: "image stop signal", image: "nginx", timeout: time.Second, wantSignals: []syscall.Signal{syscall.SIGQUIT}, wantCode: 131},
		{desc: "request stop signal wins", image: "nginx", signal: runtimeapi.Signal_SIGNAL_SIGUSR1, timeout: time.Second, wantSignals: []syscall.Signal{syscall.SIGUSR1}, wantCode: 138},
		{desc: "SIGKILL after timeout", image: "busybox", ignore: []syscall.Signal{syscall.SIGTERM}, timeout: 50 * time.Millisecond, wantSignals: []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, wantCode: 137},
		{desc: "zero timeout kills at once", image: "busybox", wantSignals: []syscall.Signal{syscall.SIGKILL}, wantCode: 137},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			for _, s := range tc.ignore {
				e.shims.Ignore[s] = true
			}
			cfg := ctrConfig("app", tc.image)
			cfg.StopSignal = tc.signal
			c, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: cfg})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Start(context.Background(), c.ID); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Stop(context.Background(), c.ID, tc.timeout); err != nil {
				t.Fatal(err)
			}
			if got := e.shims.Proc(c.ID).Signals; !slices.Equal(got, tc.wantSignals) {
				t.Errorf("signals = %v, want %v", got, tc.wantSignals)
			}
			if st := c.Status(); st.State != container.StateExited || st.ExitCode != tc.wantCode {
				t.Errorf("status = %+v", st)
			}
			if err := e.svc.Stop(context.Background(), c.ID, tc.timeout); err != nil {
				t.Errorf("second stop: %v", err)
			}
		})
	}
}

func TestStopMissingOrCreated(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, "app", "busybox")
	for _, id := range []string{"missing", c.ID} {
		if err := e.svc.Stop(context.Background(), id, time.Second); err != nil {
			t.Errorf("stop %s: %v", id, err)
		}
	}
}

// TestStopShimGoneReaps: StopContainer of a container that does not run
// reaps, through its cgroup, what its pod's lost shim made of it: a
// created container's init waiting to be started, or what an exited one
// left behind (test/fault: in a shared-PID pod whose shim was killed, a
// created container's "cricket-shim init" outlived StopContainer). With
// the shim alive nothing is reaped: the shim owns the process.
func TestStopShimGoneReaps(t *testing.T) {
	for _, tc := range []struct {
		desc string
		prep func(*env, *container.Container)
	}{
		{desc: "created", prep: func(*env, *container.Container) {}},
		{desc: "exited", prep: func(e *env, c *container.Container) {
			if err := e.svc.Start(context.Background(), c.ID); err != nil {
				t.Fatal(err)
			}
			e.shims.Exit(c.ID, 0, false)
			waitExited(t, c)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(t, "app", "busybox")
			tc.prep(e, c)
			state := c.Status().State
			if err := e.svc.Stop(context.Background(), c.ID, time.Second); err != nil {
				t.Fatal(err)
			}
			if r := e.orph.Reaped(); len(r) != 0 {
				t.Errorf("shim alive: reaped %v, want nothing", r)
			}
			e.shims.SetGone(podID, true)
			if err := e.svc.Stop(context.Background(), c.ID, time.Second); err != nil {
				t.Fatal(err)
			}
			if r := e.orph.Reaped(); !slices.Equal(r, []string{c.Bundle}) {
				t.Errorf("shim gone: reaped %v, want %s", r, c.Bundle)
			}
			if st := c.Status().State; st != state {
				t.Errorf("state after Stop = %s, want %s still", st, state)
			}
		})
	}
}

// TestStopGraceOutlivesCaller: a caller whose deadline ends during the
// grace period does not turn the stop into an early SIGKILL (found by
// test/fault: a kubelet-style client that timed out got its container
// killed 137 instead of exiting on its TERM trap).
func TestStopGraceOutlivesCaller(t *testing.T) {
	e := newEnv(t)
	e.shims.Ignore[syscall.SIGTERM] = true
	c := e.started(t, "app", "busybox")
	const grace = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = e.svc.Stop(ctx, c.ID, grace)
	if took := time.Since(start); took < grace {
		t.Errorf("stop returned after %v, inside the %v grace period", took, grace)
	}
	if got := e.shims.Proc(c.ID).Signals; !slices.Equal(got, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
		t.Errorf("signals = %v", got)
	}
	if st := c.Status(); st.State != container.StateExited {
		t.Errorf("status = %+v", st)
	}
}
