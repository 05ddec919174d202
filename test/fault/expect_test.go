package fault

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// attemptFacts is what the test knows of one failed RPC attempt.
type attemptFacts struct {
	code codes.Code
	// daemonKilled: the daemon was down when the call began, or was
	// killed before it ended.
	daemonKilled bool
	// shimKilled: the shim of the call's pod was killed while it ran.
	shimKilled bool
	// shortDeadline: the workload itself gave the call a deadline under
	// a second.
	shortDeadline bool
}

// What explains an expected error.
const (
	byDaemonKill = "daemon kill"
	byShimKill   = "shim kill"
	byDeadline   = "short deadline"
)

// explain says what makes a failed attempt expected, or "" when nothing
// does and the error fails the run. A kill during the call explains any
// error (the work was cut anywhere); the workload's own short deadline
// explains only the deadline's codes. Unavailable, DeadlineExceeded and
// Canceled with no kill and a generous deadline are the runtime's own
// failures.
func explain(f attemptFacts) string {
	switch {
	case f.daemonKilled:
		return byDaemonKill
	case f.shimKilled:
		return byShimKill
	case f.shortDeadline && (f.code == codes.DeadlineExceeded || f.code == codes.Canceled):
		return byDeadline
	}
	return ""
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		desc string
		f    attemptFacts
		want string
	}{
		{desc: "unavailable with no kill", f: attemptFacts{code: codes.Unavailable}, want: ""},
		{desc: "deadline with a generous deadline", f: attemptFacts{code: codes.DeadlineExceeded}, want: ""},
		{desc: "canceled with no kill", f: attemptFacts{code: codes.Canceled}, want: ""},
		{desc: "unavailable, daemon killed", f: attemptFacts{code: codes.Unavailable, daemonKilled: true}, want: byDaemonKill},
		{desc: "any code, daemon killed", f: attemptFacts{code: codes.Unknown, daemonKilled: true}, want: byDaemonKill},
		{desc: "any code, shim killed during the call", f: attemptFacts{code: codes.Internal, shimKilled: true}, want: byShimKill},
		{desc: "short deadline exceeded", f: attemptFacts{code: codes.DeadlineExceeded, shortDeadline: true}, want: byDeadline},
		{desc: "short deadline canceled", f: attemptFacts{code: codes.Canceled, shortDeadline: true}, want: byDeadline},
		{desc: "short deadline, unavailable", f: attemptFacts{code: codes.Unavailable, shortDeadline: true}, want: ""},
		{desc: "short deadline, unknown", f: attemptFacts{code: codes.Unknown, shortDeadline: true}, want: ""},
	} {
		if got := explain(tc.f); got != tc.want {
			t.Errorf("%s: explain(%+v) = %q, want %q", tc.desc, tc.f, got, tc.want)
		}
	}
}

func TestAttemptLog(t *testing.T) {
	var l attemptLog
	l.add(0, 12340*time.Millisecond, status.Error(codes.Unavailable, "connection refused"), byDaemonKill)
	l.add(1, 800*time.Millisecond, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), byDeadline)
	l.add(2, 30*time.Second, status.Error(codes.Internal, strings.Repeat("x", 300)), "")
	for i := 0; i < 8; i++ {
		l.add(3, time.Second, status.Error(codes.Unavailable, "gone"), byDaemonKill)
	}
	got := l.String()
	for _, want := range []string{
		"11 failed calls (daemon kill 9, short deadline 1, unexplained 1)",
		"attempt 3 after 1s: Unavailable (daemon kill): gone",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("attemptLog = %q, want it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "attempt 0 ") || len(l.recent) != 8 {
		t.Errorf("attemptLog keeps %d recent calls, want the last 8: %q", len(l.recent), got)
	}
	l2 := attemptLog{}
	l2.add(0, time.Second, status.Error(codes.Internal, strings.Repeat("x", 300)), "")
	if !strings.Contains(l2.String(), "Internal (unexplained): "+strings.Repeat("x", 160)+"...") {
		t.Errorf("a long message is not cut at 160 bytes: %q", l2.String())
	}
}
