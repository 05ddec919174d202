package main

import (
	"testing"
	"time"
)

func TestParseAndRender(t *testing.T) {
	now := time.Date(2026, 12, 5, 21, 16, 8, 677152000, time.Local)
	for _, tc := range []struct {
		args  []string
		delay time.Duration
		want  string
	}{
		{[]string{"-d0", "%3t"}, 0, "21:16:08.677"},
		{[]string{"-d", "250", "%t"}, 250 * time.Millisecond, "21:16:08"},
		{[]string{"at %6t."}, time.Second, "at 21:16:08.677152."},
	} {
		delay, format, err := parseArgs(tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got := render(format, now); got != tc.want || delay != tc.delay {
			t.Errorf("%q: %q every %v, want %q every %v", tc.args, got, delay, tc.want, tc.delay)
		}
	}
	for _, bad := range [][]string{{}, {"%c"}, {"%7t"}, {"-dx", "%t"}, {"-q", "%t"}, {"%3t", "%t"}} {
		if _, _, err := parseArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
