package grpcerrs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	crierrors "k8s.io/cri-api/pkg/errors"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestCode(t *testing.T) {
	cases := []struct {
		desc string
		err  error
		want codes.Code
	}{
		{desc: "nil", err: nil, want: codes.OK},
		{desc: "wrapped not found", err: fmt.Errorf("a: %w", fmt.Errorf("b: %w", errdefs.ErrNotFound)), want: codes.NotFound},
		{desc: "already exists", err: errdefs.ErrAlreadyExists, want: codes.AlreadyExists},
		{desc: "invalid", err: fmt.Errorf("x: %w", errdefs.ErrInvalidArgument), want: codes.InvalidArgument},
		{desc: "precondition", err: errdefs.ErrFailedPrecondition, want: codes.FailedPrecondition},
		{desc: "unavailable", err: errdefs.ErrUnavailable, want: codes.Unavailable},
		{desc: "not implemented", err: errdefs.ErrNotImplemented, want: codes.Unimplemented},
		{desc: "exhausted", err: errdefs.ErrResourceExhausted, want: codes.ResourceExhausted},
		{desc: "denied", err: errdefs.ErrPermissionDenied, want: codes.PermissionDenied},
		{desc: "deadline", err: fmt.Errorf("pull: %w", context.DeadlineExceeded), want: codes.DeadlineExceeded},
		{desc: "canceled", err: context.Canceled, want: codes.Canceled},
		{desc: "joined picks first sentinel in order", err: errors.Join(errdefs.ErrInvalidArgument, errdefs.ErrNotFound), want: codes.NotFound},
		{desc: "existing status", err: status.Error(codes.Aborted, "x"), want: codes.Aborted},
		{desc: "plain error", err: errors.New("x"), want: codes.Unknown},
		{desc: "disk full", err: fmt.Errorf("persist: %w", &os.PathError{Op: "write", Path: "/var/lib/cricket/meta/x", Err: syscall.ENOSPC}), want: codes.ResourceExhausted},
		{desc: "quota", err: &os.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT}, want: codes.ResourceExhausted},
		{desc: "read-only disk", err: &os.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}, want: codes.FailedPrecondition},
		{desc: "sentinel wins over errno", err: errors.Join(errdefs.ErrNotFound, syscall.ENOSPC), want: codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := Code(tc.err); got != tc.want {
				t.Errorf("Code = %v, want %v", got, tc.want)
			}
			if got := status.Code(ToGRPC(tc.err)); got != tc.want {
				t.Errorf("ToGRPC code = %v, want %v", got, tc.want)
			}
			if _, isStatus := status.FromError(tc.err); !isStatus && errdefs.IsUnknown(tc.err) != (tc.want == codes.Unknown) {
				t.Errorf("errdefs.IsUnknown = %v, want %v", errdefs.IsUnknown(tc.err), tc.want == codes.Unknown)
			}
		})
	}
}

func TestToGRPCKeepsMessage(t *testing.T) {
	err := fmt.Errorf("pod %q: %w", "p1", errdefs.ErrNotFound)
	if got := status.Convert(ToGRPC(err)).Message(); got != err.Error() {
		t.Errorf("message = %q, want %q", got, err.Error())
	}
}

// The kubelet's CRI client turns an Unknown status into its bare message,
// and the kubelet matches the prefix SignatureValidationFailed.
func TestSignatureValidationReachesTheKubeletAsItsError(t *testing.T) {
	err := fmt.Errorf("pull x: %w", fmt.Errorf("%w: no signature: %w", errdefs.ErrSignatureValidation, errdefs.ErrNotFound))
	st := status.Convert(ToGRPC(err))
	if st.Code() != codes.Unknown {
		t.Errorf("code = %v, want Unknown", st.Code())
	}
	if !strings.HasPrefix(st.Message(), crierrors.ErrSignatureValidationFailed.Error()) {
		t.Errorf("message %q does not start with %q", st.Message(), crierrors.ErrSignatureValidationFailed.Error())
	}
	if !strings.Contains(st.Message(), "no signature") {
		t.Errorf("message %q lost the reason", st.Message())
	}
}
