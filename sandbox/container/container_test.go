package container

import (
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestCheckTransition(t *testing.T) {
	cases := []struct {
		desc     string
		from, to State
		ok       bool
	}{
		{desc: "start", from: StateCreated, to: StateRunning, ok: true},
		{desc: "start error", from: StateCreated, to: StateExited, ok: true},
		{desc: "exit", from: StateRunning, to: StateExited, ok: true},
		{desc: "same", from: StateExited, to: StateExited, ok: true},
		{desc: "no restart", from: StateExited, to: StateRunning},
		{desc: "no going back", from: StateRunning, to: StateCreated},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := checkTransition(tc.from, tc.to)
			if (err == nil) != tc.ok || (err != nil && !errdefs.IsFailedPrecondition(err)) {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	cases := []struct {
		desc string
		in   string
		want int
		ok   bool
	}{
		{desc: "full name", in: "SIGQUIT", want: 3, ok: true},
		{desc: "short name", in: "term", want: 15, ok: true},
		{desc: "number", in: "9", want: 9, ok: true},
		{desc: "real-time", in: "SIGRTMIN+3", want: 37, ok: true},
		{desc: "unknown", in: "SIGNOPE"},
		{desc: "out of range", in: "99"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseSignal(tc.in)
			if (err == nil) != tc.ok || (tc.ok && int(got) != tc.want) {
				t.Errorf("parseSignal(%q) = %d, %v", tc.in, got, err)
			}
		})
	}
}
