package daemon

import (
	"context"
	"errors"
	"testing"
)

// TestTmpfsIDMapProbedOnce: the tmpfs probe runs once per daemon, and its
// answer holds after.
func TestTmpfsIDMapProbedOnce(t *testing.T) {
	for _, tc := range []struct {
		desc string
		err  error
		want bool
	}{
		{desc: "kernel idmaps tmpfs", want: true},
		{desc: "kernel before 6.3", err: errors.New("mount_setattr: invalid argument")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			calls := 0
			u := &userNamespaces{probeTmpfs: func() error { calls++; return tc.err }}
			for range 3 {
				if got := u.TmpfsIDMap(context.Background()); got != tc.want {
					t.Fatalf("TmpfsIDMap = %v, want %v", got, tc.want)
				}
			}
			if calls != 1 {
				t.Errorf("probed %d times, want once", calls)
			}
		})
	}
}
