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
