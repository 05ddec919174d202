// Package grpcerrs maps errors to gRPC status codes by their class
// (pkg/errdefs): the one place that chooses the code a CRI client sees.
// Only the CRI layer (cri/) uses it; domain code tests errors with errdefs.
package grpcerrs

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	crierrors "k8s.io/cri-api/pkg/errors"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// codeOf maps each class errdefs.Class returns to its gRPC code.
var codeOf = map[error]codes.Code{
	errdefs.ErrNotFound:           codes.NotFound,
	errdefs.ErrAlreadyExists:      codes.AlreadyExists,
	errdefs.ErrInvalidArgument:    codes.InvalidArgument,
	errdefs.ErrFailedPrecondition: codes.FailedPrecondition,
	errdefs.ErrUnavailable:        codes.Unavailable,
	errdefs.ErrNotImplemented:     codes.Unimplemented,
	errdefs.ErrResourceExhausted:  codes.ResourceExhausted,
	errdefs.ErrPermissionDenied:   codes.PermissionDenied,
	context.DeadlineExceeded:      codes.DeadlineExceeded,
	context.Canceled:              codes.Canceled,
}

// Code returns the gRPC code for err. An error that already carries a gRPC
// status keeps its code; an error of no known class is Unknown.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	if c, ok := codeOf[errdefs.Class(err)]; ok {
		return c
	}
	return codes.Unknown
}

// ToGRPC converts err to a gRPC status error whose message is err's text.
// A nil error stays nil; an error that is already a status is returned as is.
//
// A refused image signature is Unknown with a message that starts with
// "SignatureValidationFailed": the kubelet's CRI client strips the code of
// Unknown statuses and the kubelet matches that prefix (ErrImagePull
// becomes SignatureValidationFailed in the pod's events), as it does for
// CRI-O.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errdefs.IsSignatureValidation(err) {
		return status.Error(codes.Unknown, crierrors.ErrSignatureValidationFailed.Error()+": "+err.Error())
	}
	return status.Error(Code(err), err.Error())
}
