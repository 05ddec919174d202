package daemon

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cricket-cri/cricket/cri/grpcerrs"
	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestNRIPluginError(t *testing.T) {
	timeout := status.Error(codes.DeadlineExceeded, "slow")
	for _, tc := range []struct {
		desc string
		in   error
		want codes.Code
	}{
		{"no error", nil, codes.OK},
		{"a plugin's plain error", status.Error(codes.Unknown, "no GPUs left"), codes.FailedPrecondition},
		{"a plugin's timeout", timeout, codes.DeadlineExceeded},
		{"not from a plugin", errdefs.ErrNotFound, codes.NotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := grpcerrs.Code(nriPluginError(tc.in)); got != tc.want {
				t.Errorf("code = %v, want %v", got, tc.want)
			}
		})
	}
}
