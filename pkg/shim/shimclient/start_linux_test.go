package shimclient

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStartWatch: a start is bounded by the shim's progress. A slow shim
// whose CPU time keeps growing is waited for past the idle bound (the old
// fixed 10 s bound failed the first pod of a loaded VM); one whose CPU
// time stands still (a hang) fails after the idle bound; one that keeps
// spinning without becoming ready fails at the cap; one that exits fails
// at once.
func TestStartWatch(t *testing.T) {
	const idle, poll = 200 * time.Millisecond, 20 * time.Millisecond
	growing := func() func() (int64, bool) {
		var n atomic.Int64
		return func() (int64, bool) { return n.Add(1), true }
	}
	still := func() (int64, bool) { return 7, true }
	for _, tc := range []struct {
		desc     string
		progress func() (int64, bool)
		cap      time.Duration
		ready    time.Duration // when the shim writes "ok\n"; 0: never
		exit     time.Duration // when the shim closes the pipe; 0: never
		want     string        // error substring; "" for success
		min, max time.Duration // the wait's bounds
	}{
		{desc: "slow but progressing shim is waited for past the idle bound", progress: growing(), cap: 10 * time.Second,
			ready: 5 * idle, min: 5 * idle, max: 5 * time.Second},
		{desc: "hung shim fails after the idle bound", progress: still, cap: 10 * time.Second,
			want: "no progress", min: idle, max: 5 * time.Second},
		{desc: "spinning shim fails at the cap", progress: growing(), cap: 5 * idle,
			want: "not ready after", min: 5 * idle, max: 5 * time.Second},
		{desc: "exited shim fails at once", progress: still, cap: 10 * time.Second,
			exit: poll, want: "exited before it was ready", max: idle},
		{desc: "vanished shim fails at once", progress: func() (int64, bool) { return 0, false }, cap: 10 * time.Second,
			want: "exited before it was ready", max: idle},
		{desc: "ready shim", progress: still, cap: 10 * time.Second, ready: poll, max: idle},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			// t0 before the timers: a ready or exit timer started first
			// can fire less than its delay after t0 (CI saw 999.6ms for 1s).
			t0 := time.Now()
			if tc.ready > 0 {
				time.AfterFunc(tc.ready, func() { _, _ = w.WriteString("ok\n") })
			}
			if tc.exit > 0 {
				time.AfterFunc(tc.exit, func() { _ = w.Close() })
			}
			sw := startWatch{progress: tc.progress, idle: idle, cap: tc.cap, poll: poll}
			err = sw.await(context.Background(), r)
			took := time.Since(t0)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("await: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("await: %v, want an error with %q", err, tc.want)
			}
			if took < tc.min || took > tc.max {
				t.Errorf("await took %s, want between %s and %s", took, tc.min, tc.max)
			}
		})
	}
}

// TestCPUTicks reads this process's CPU time, which grows while it works,
// and reports a process that is gone.
func TestCPUTicks(t *testing.T) {
	a, ok := cpuTicks(os.Getpid())
	if !ok {
		t.Fatal("cpuTicks(self): not alive")
	}
	for b := a; b == a; b, _ = cpuTicks(os.Getpid()) {
		for i := 0; i < 1e6; i++ {
			_ = strings.Repeat("x", i%7)
		}
	}
	if _, ok := cpuTicks(1 << 30); ok {
		t.Error("cpuTicks of a pid that cannot exist: alive")
	}
}
