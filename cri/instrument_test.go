package cri

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestUnaryInterceptorMapsErrors(t *testing.T) {
	cases := []struct {
		desc string
		err  error
		want codes.Code
	}{
		{desc: "success", err: nil, want: codes.OK},
		{desc: "not found", err: fmt.Errorf("pod %q: %w", "x", errdefs.ErrNotFound), want: codes.NotFound},
		{desc: "already exists", err: fmt.Errorf("name: %w", errdefs.ErrAlreadyExists), want: codes.AlreadyExists},
		{desc: "invalid argument", err: fmt.Errorf("x: %w", errdefs.ErrInvalidArgument), want: codes.InvalidArgument},
		{desc: "failed precondition", err: fmt.Errorf("x: %w", errdefs.ErrFailedPrecondition), want: codes.FailedPrecondition},
		{desc: "unavailable", err: fmt.Errorf("x: %w", errdefs.ErrUnavailable), want: codes.Unavailable},
		{desc: "deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), want: codes.DeadlineExceeded},
		{desc: "status kept", err: status.Error(codes.Aborted, "x"), want: codes.Aborted},
		{desc: "unclassified", err: errors.New("boom"), want: codes.Unknown},
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/Test"}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := UnaryInterceptor(context.Background(), nil, info, func(ctx context.Context, req any) (any, error) {
				return nil, tc.err
			})
			if got := status.Code(err); got != tc.want {
				t.Errorf("code = %v, want %v", got, tc.want)
			}
			if tc.err != nil && status.Convert(err).Message() != tc.err.Error() && tc.want != codes.Aborted {
				t.Errorf("message = %q, want %q", status.Convert(err).Message(), tc.err.Error())
			}
		})
	}
}

func TestUnaryInterceptorRecoversPanics(t *testing.T) {
	info := &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/Test"}
	_, err := UnaryInterceptor(context.Background(), nil, info, func(ctx context.Context, req any) (any, error) {
		panic("bug")
	})
	if status.Code(err) != codes.Internal {
		t.Errorf("code = %v, want Internal", status.Code(err))
	}
}

func TestRedactRemovesCredentials(t *testing.T) {
	req := &runtimeapi.PullImageRequest{
		Image: &runtimeapi.ImageSpec{Image: "busybox"},
		Auth:  &runtimeapi.AuthConfig{Username: "u", Password: "hunter2", Auth: "dTpodW50ZXIy", IdentityToken: "idt", RegistryToken: "rt", ServerAddress: "r.example"},
	}
	out := fmt.Sprint(redact(req))
	for _, secret := range []string{"hunter2", "dTpodW50ZXIy", "idt", `"rt"`, "u\""} {
		if strings.Contains(out, secret) {
			t.Errorf("redacted request still holds %s: %s", secret, out)
		}
	}
	if req.Auth.Password != "hunter2" {
		t.Error("redact changed the request itself")
	}
	if !strings.Contains(out, "busybox") {
		t.Errorf("redacted request lost the image: %s", out)
	}
}
