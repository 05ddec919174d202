package shimclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// A shim's start is bounded by its progress, not by a fixed time: on a
// slow node (a loaded VM without hardware virtualisation, where the first
// shim took more than 10 s to page its binary in and start its runtime) a
// healthy start takes as long as the CPU it gets allows, while a shim that
// hangs (blocked on a lock, a mount, a dead disk) uses no CPU at all.
// So the daemon waits for the shim's "ok" as long as the shim's CPU time
// grows, gives up once it has not grown for startIdle, and never waits
// longer than startCap in all (a shim spinning without ever becoming
// ready).
const (
	startIdle = 10 * time.Second
	startCap  = 2 * time.Minute
	// startPoll is how often the shim's CPU time is read while waiting.
	startPoll = 250 * time.Millisecond
)

// startWatch waits for a starting shim's ready message.
type startWatch struct {
	// progress returns a measure that grows while the shim makes progress
	// (its CPU time) and whether the shim still lives.
	progress func() (int64, bool)
	// idle is how long progress may stand still; cap bounds the whole
	// wait when ctx has no deadline; poll is how often progress is read.
	idle, cap, poll time.Duration
}

// errNotReady tells why a shim did not become ready; the caller adds the
// end of the shim's log.
type errNotReady struct{ why string }

func (e errNotReady) Error() string { return e.why }

// await reads the ready message ("ok\n") from r. It fails when r closes
// without it (the shim exited), when progress stands still for w.idle,
// when ctx ends, or at ctx's deadline (start+w.cap without one).
func (w startWatch) await(ctx context.Context, r *os.File) error {
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(w.cap)
	}
	last, _ := w.progress()
	lastAt := start
	buf := make([]byte, 3)
	for {
		next := time.Now().Add(w.poll)
		if next.After(deadline) {
			next = deadline
		}
		_ = r.SetReadDeadline(next)
		// The shim writes its 3 bytes at once, and a pipe write that
		// small is atomic.
		n, err := r.Read(buf)
		switch {
		case n > 0 && string(buf[:n]) == "ok\n":
			return nil
		case n > 0:
			return errNotReady{fmt.Sprintf("unexpected ready message %q", buf[:n])}
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return errNotReady{"exited before it was ready"}
		}
		now := time.Now()
		if err := ctx.Err(); err != nil {
			return errNotReady{fmt.Sprintf("not ready after %s: %v", now.Sub(start).Round(time.Millisecond), err)}
		}
		if !now.Before(deadline) {
			return errNotReady{fmt.Sprintf("not ready after %s", now.Sub(start).Round(time.Millisecond))}
		}
		cur, alive := w.progress()
		if !alive {
			return errNotReady{"exited before it was ready"}
		}
		if cur != last {
			last, lastAt = cur, now
		} else if now.Sub(lastAt) >= w.idle {
			return errNotReady{fmt.Sprintf("not ready after %s, no progress (CPU time) for the last %s", now.Sub(start).Round(time.Millisecond), now.Sub(lastAt).Round(time.Millisecond))}
		}
	}
}

// cpuTicks returns the CPU time (user and system, all threads, in clock
// ticks) of process pid, and false when it is gone or a zombie.
func cpuTicks(pid int) (int64, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command's closing parenthesis: state (3),
	// then 4..13, utime (14) and stime (15).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 || string(f[0]) == "Z" || string(f[0]) == "X" {
		return 0, false
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + s, true
}
