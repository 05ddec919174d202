package testutil

import (
	"fmt"
	"testing"
	"time"
)

// pollFirst and pollMax bound the pause between two calls of a condition:
// it starts short, so that a condition met at once costs little, and
// grows, so that a slow one (a kubelet's pod status) is not hammered.
const (
	pollFirst = 20 * time.Millisecond
	pollMax   = 500 * time.Millisecond
)

// Eventually calls cond until it returns nil; after timeout it fails t
// with what it waited for and the last error cond returned.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Wait(what, timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// Wait is Eventually for callers without a t (goroutines other than the
// test's): it returns nil once cond does, or after timeout an error naming
// what it waited for and cond's last error.
func Wait(what string, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	pause := pollFirst
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s: %w", timeout, what, err)
		}
		time.Sleep(pause)
		pause = min(pause*3/2, pollMax)
	}
}
