// Package errdefs defines the sentinel errors that domain code wraps and
// the class of an error (Class).
//
// Domain packages return errors such as
//
//	fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
//
// and only the CRI instrumentation layer turns them into gRPC statuses
// (cri/grpcerrs), by their class.
package errdefs

import (
	"context"
	"errors"
	"syscall"
)

// Sentinel errors. Wrap them with %w; test with errors.Is or the Is* helpers.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnavailable        = errors.New("unavailable")
	ErrNotImplemented     = errors.New("not implemented")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrPermissionDenied   = errors.New("permission denied")
	// ErrSignatureValidation is an image the signature policy refuses.
	// The CRI reports it the way the kubelet recognises
	// (k8s.io/cri-api/pkg/errors.ErrSignatureValidationFailed).
	ErrSignatureValidation = errors.New("signature validation failed")
)

// IsSignatureValidation reports whether err wraps ErrSignatureValidation.
func IsSignatureValidation(err error) bool { return errors.Is(err, ErrSignatureValidation) }

// IsNotFound reports whether err wraps ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err wraps ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsInvalidArgument reports whether err wraps ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsFailedPrecondition reports whether err wraps ErrFailedPrecondition.
func IsFailedPrecondition(err error) bool { return errors.Is(err, ErrFailedPrecondition) }

// IsUnknown reports whether err is an error of no known class (Class is
// nil): the CRI reports it as Unknown.
func IsUnknown(err error) bool { return err != nil && Class(err) == nil }

// classes is ordered: the first error found in the chain decides the class.
var classes = []struct {
	err   error
	class error
}{
	// A refused signature wins over what its check ran into (a missing
	// signature tag is a NotFound underneath).
	{ErrSignatureValidation, ErrSignatureValidation},
	{ErrNotFound, ErrNotFound},
	{ErrAlreadyExists, ErrAlreadyExists},
	{ErrInvalidArgument, ErrInvalidArgument},
	{ErrFailedPrecondition, ErrFailedPrecondition},
	{ErrUnavailable, ErrUnavailable},
	{ErrNotImplemented, ErrNotImplemented},
	{ErrResourceExhausted, ErrResourceExhausted},
	{ErrPermissionDenied, ErrPermissionDenied},
	{context.DeadlineExceeded, context.DeadlineExceeded},
	{context.Canceled, context.Canceled},
	// A full or read-only disk under root or state reaches the kubelet as
	// what it is, with the path in the message, not as Unknown.
	{syscall.ENOSPC, ErrResourceExhausted},
	{syscall.EDQUOT, ErrResourceExhausted},
	{syscall.EROFS, ErrFailedPrecondition},
}

// Class returns the class of err: the sentinel it wraps, or
// context.DeadlineExceeded or context.Canceled; a full disk is
// ErrResourceExhausted and a read-only one ErrFailedPrecondition. It is nil
// for nil and for an error of no known class.
func Class(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	return nil
}
