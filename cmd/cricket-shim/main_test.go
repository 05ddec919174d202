package main

import "testing"

func TestRun(t *testing.T) {
	cases := []struct {
		desc string
		args []string
		want int
	}{
		{desc: "no command", args: nil, want: 2},
		{desc: "unknown command", args: []string{"serve"}, want: 2},
		{desc: "shim without pod and state", args: []string{"__shim"}, want: 2},
		{desc: "shim with a bad flag", args: []string{"__shim", "--nope"}, want: 2},
		{desc: "version", args: []string{"version"}, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := run(tc.args); got != tc.want {
				t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
