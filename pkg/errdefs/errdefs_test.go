package errdefs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestClass(t *testing.T) {
	cases := []struct {
		desc string
		err  error
		want error
	}{
		{desc: "nil", err: nil, want: nil},
		{desc: "wrapped sentinel", err: fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrNotFound)), want: ErrNotFound},
		{desc: "joined picks the first class in order", err: errors.Join(ErrInvalidArgument, ErrNotFound), want: ErrNotFound},
		{desc: "deadline", err: fmt.Errorf("pull: %w", context.DeadlineExceeded), want: context.DeadlineExceeded},
		{desc: "disk full", err: &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, want: ErrResourceExhausted},
		{desc: "read-only disk", err: &os.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}, want: ErrFailedPrecondition},
		{desc: "sentinel wins over errno", err: errors.Join(ErrNotFound, syscall.ENOSPC), want: ErrNotFound},
		{desc: "plain error", err: errors.New("x"), want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := Class(tc.err); got != tc.want {
				t.Errorf("Class = %v, want %v", got, tc.want)
			}
			if got, want := IsUnknown(tc.err), tc.err != nil && tc.want == nil; got != want {
				t.Errorf("IsUnknown = %v, want %v", got, want)
			}
		})
	}
}
