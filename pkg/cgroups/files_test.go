package cgroups

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRemoveDirRetries(t *testing.T) {
	oldDelay, oldTimeout := removeRetryDelay, removeTimeout
	removeRetryDelay = time.Millisecond
	t.Cleanup(func() { removeRetryDelay, removeTimeout = oldDelay, oldTimeout })
	tests := []struct {
		desc    string
		errs    []error // returned by successive rmdir calls; then nil
		always  error
		ctx     func() context.Context
		wantErr error
	}{
		{desc: "removed at once"},
		{desc: "missing is success", errs: []error{unix.ENOENT}},
		{desc: "busy twice then gone", errs: []error{unix.EBUSY, unix.EBUSY}},
		{desc: "busy forever", always: unix.EBUSY, wantErr: unix.EBUSY},
		{desc: "not empty is not retried", errs: []error{unix.ENOTEMPTY}, wantErr: unix.ENOTEMPTY},
		{desc: "context cancelled", always: unix.EBUSY, ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, wantErr: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			// Only the case that exhausts its retries waits for the
			// deadline; the others get one no loaded machine reaches
			// (at 50 ms, "busy twice" failed in CI under load).
			removeTimeout = time.Minute
			if tc.always != nil {
				removeTimeout = 50 * time.Millisecond
			}
			calls := 0
			rmdir := func(string) error {
				calls++
				if tc.always != nil {
					return tc.always
				}
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			err := removeDir(ctx, "/fake", rmdir)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestMkdirAll(t *testing.T) {
	root := t.TempDir()
	made, err := mkdirAll(filepath.Join(root, "a", "b", "c"))
	if err != nil || len(made) != 3 || made[0] != filepath.Join(root, "a") {
		t.Fatalf("made %v, %v", made, err)
	}
	made, err = mkdirAll(filepath.Join(root, "a", "b"))
	if err != nil || len(made) != 0 {
		t.Fatalf("made %v, %v", made, err)
	}
}
