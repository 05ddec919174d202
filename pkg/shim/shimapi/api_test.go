package shimapi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		desc  string
		err   error
		class error
	}{
		{desc: "not found", err: fmt.Errorf("container x: %w", errdefs.ErrNotFound), class: errdefs.ErrNotFound},
		{desc: "precondition", err: fmt.Errorf("busy: %w", errdefs.ErrFailedPrecondition), class: errdefs.ErrFailedPrecondition},
		{desc: "no class", err: errors.New("boom"), class: nil},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := DecodeError(EncodeError(tc.err).Error())
			if got.Error() != tc.err.Error() {
				t.Errorf("message %q, want %q", got, tc.err)
			}
			if tc.class != nil && !errors.Is(got, tc.class) {
				t.Errorf("%v does not wrap %v", got, tc.class)
			}
		})
	}
	if EncodeError(nil) != nil {
		t.Error("EncodeError(nil) != nil")
	}
}
