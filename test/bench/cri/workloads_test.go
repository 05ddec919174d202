package main

import "testing"

// The rounds of a workload add up to the whole, the first rounds taking
// the remainder.
func TestShare(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		n, rounds int
		want      []int
	}{
		{desc: "even", n: 100, rounds: 4, want: []int{25, 25, 25, 25}},
		{desc: "remainder", n: 10, rounds: 4, want: []int{3, 3, 2, 2}},
		{desc: "fewer than rounds", n: 2, rounds: 4, want: []int{1, 1, 0, 0}},
		{desc: "one round", n: 7, rounds: 1, want: []int{7}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			for round, want := range tc.want {
				if got := share(tc.n, tc.rounds, round); got != want {
					t.Errorf("share(%d, %d, %d) = %d, want %d", tc.n, tc.rounds, round, got, want)
				}
			}
		})
	}
}
