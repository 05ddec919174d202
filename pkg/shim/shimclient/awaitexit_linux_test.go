package shimclient

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// awaitExit returns once the process exits (a zombie, not yet reaped),
// not before, and long before its bound.
func TestAwaitExitWakesOnExit(t *testing.T) {
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	t0 := time.Now()
	awaitExit(context.Background(), cmd.Process.Pid, 5*time.Second)
	if d := time.Since(t0); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("awaitExit returned after %s; the process ran 300ms (bound 5s)", d)
	}
}

// A cancelled context ends the wait although the process lives on.
func TestAwaitExitCancelled(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	awaitExit(ctx, cmd.Process.Pid, 5*time.Second)
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("awaitExit returned after %s; the context ended after 200ms", d)
	}
}
