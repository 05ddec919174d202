package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/cri/grpcerrs"
	"github.com/cricket-cri/cricket/pkg/metrics"
)

// This file is the ONE place where requests are logged and domain errors
// become gRPC status codes. Handlers return plain wrapped errors.

// Verbosity levels of request logging.
const (
	logRequests    = 4 // method, id, duration and code of every request
	logFullRequest = 6 // the request and response bodies
)

// noisy RPCs are polled by the kubelet every second or so; they are logged
// one verbosity level higher so that -v=4 stays readable.
var noisy = map[string]bool{
	"Version": true, "Status": true, "ListPodSandbox": true, "ListContainers": true,
	"ListImages": true, "ImageFsInfo": true, "ListContainerStats": true,
	"ListPodSandboxStats": true, "ContainerStatus": true, "PodSandboxStatus": true,
	"ImageStatus": true,
}

func newRequestID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestLogger(ctx context.Context, fullMethod string) (context.Context, klog.Logger, string) {
	method := path.Base(fullMethod)
	logger := klog.FromContext(ctx).WithValues("rpc", method, "requestID", newRequestID())
	// With tracing on, the log lines of a call name its trace, so that a
	// slow span leads to its log and back.
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		logger = logger.WithValues("traceID", sc.TraceID().String())
	}
	return klog.NewContext(ctx, logger), logger, method
}

func level(method string) int {
	if noisy[method] {
		return logRequests + 1
	}
	return logRequests
}

// finish maps err to a gRPC status and logs the outcome.
func finish(logger klog.Logger, method string, start time.Time, err error) error {
	err = grpcerrs.ToGRPC(err)
	code := status.Code(err)
	elapsed := time.Since(start)
	metrics.RequestDuration.WithLabelValues(method, code.String()).Observe(elapsed.Seconds())
	if code != codes.OK {
		metrics.RequestErrors.WithLabelValues(method, code.String()).Inc()
	}
	switch code {
	case codes.OK:
		logger.V(level(method)).Info("request done", "duration", elapsed)
	case codes.NotFound, codes.Canceled, codes.Unimplemented:
		// The kubelet routinely asks for objects that are gone, and for RPCs
		// a runtime may lack; these are not runtime failures.
		logger.V(logRequests).Info("request failed", "code", code, "err", err, "duration", elapsed)
	default:
		logger.Error(err, "request failed", "code", code, "duration", elapsed)
	}
	return err
}

// recoverPanic turns a handler panic into an Internal error instead of a
// crashed daemon; the stack goes to the log.
func recoverPanic(logger klog.Logger, err *error) {
	if r := recover(); r != nil {
		logger.Error(fmt.Errorf("panic: %v", r), "handler panicked", "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "internal error: %v", r)
	}
}

// redact returns req without secrets, for logging: registry credentials
// never reach the log, whatever the verbosity.
func redact(req any) any {
	pull, ok := req.(*runtimeapi.PullImageRequest)
	if !ok || pull.GetAuth() == nil {
		return req
	}
	clean := proto.Clone(pull).(*runtimeapi.PullImageRequest)
	clean.Auth = &runtimeapi.AuthConfig{ServerAddress: pull.GetAuth().GetServerAddress()}
	if a := pull.GetAuth(); a.Username != "" || a.Password != "" || a.Auth != "" || a.IdentityToken != "" || a.RegistryToken != "" {
		clean.Auth.Username = "<redacted>"
	}
	return clean
}

// UnaryInterceptor logs and maps the errors of unary RPCs.
func UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	ctx, logger, method := requestLogger(ctx, info.FullMethod)
	start := time.Now()
	if v := logger.V(logFullRequest); v.Enabled() {
		v.Info("request", "body", redact(req))
	}
	defer func() {
		err = finish(logger, method, start, err)
		if v := logger.V(logFullRequest); v.Enabled() && err == nil {
			v.Info("response", "body", resp)
		}
	}()
	// recover only works in a function deferred directly; it runs before
	// the logging above.
	defer recoverPanic(logger, &err)
	return handler(ctx, req)
}

type loggedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *loggedStream) Context() context.Context { return s.ctx }

// StreamInterceptor logs and maps the errors of streaming RPCs.
func StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	ctx, logger, method := requestLogger(ss.Context(), info.FullMethod)
	start := time.Now()
	defer func() { err = finish(logger, method, start, err) }()
	defer recoverPanic(logger, &err)
	return handler(srv, &loggedStream{ServerStream: ss, ctx: ctx})
}

// ServerOptions returns the gRPC server options that install the
// instrumentation and the message size limits, followed by extra (the
// tracing stats handler, when tracing is on).
func ServerOptions(maxRecv, maxSend int, extra ...grpc.ServerOption) []grpc.ServerOption {
	return append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryInterceptor),
		grpc.ChainStreamInterceptor(StreamInterceptor),
		grpc.MaxRecvMsgSize(maxRecv),
		grpc.MaxSendMsgSize(maxSend),
	}, extra...)
}
