package testutil

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	cases := []struct {
		desc    string
		okAfter int // calls before cond returns nil; -1: never
		wantErr string
	}{
		{desc: "met at once", okAfter: 0},
		{desc: "met on the third call", okAfter: 2},
		{desc: "never met", okAfter: -1, wantErr: "timed out after 200ms waiting for the thing: not yet (call"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			calls := 0
			err := Wait("the thing", 200*time.Millisecond, func() error {
				calls++
				if tc.okAfter >= 0 && calls > tc.okAfter {
					return nil
				}
				return fmt.Errorf("not yet (call %d)", calls)
			})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Wait = %v after %d calls", err, calls)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Wait = %v, want an error with %q", err, tc.wantErr)
			case tc.wantErr == "" && calls != tc.okAfter+1:
				t.Errorf("cond called %d times, want %d", calls, tc.okAfter+1)
			}
		})
	}
}

func TestWaitKeepsTheLastError(t *testing.T) {
	last := errors.New("last")
	calls := 0
	err := Wait("x", 50*time.Millisecond, func() error {
		calls++
		if calls == 1 {
			return errors.New("first")
		}
		return last
	})
	if !errors.Is(err, last) {
		t.Errorf("Wait = %v, want it to wrap the last error", err)
	}
}
