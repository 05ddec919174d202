// Package tracing is how Cricket's code marks the steps of a request as
// OpenTelemetry spans. It uses only the OpenTelemetry API: the SDK and the
// OTLP exporter are wired by cricketd when [tracing] endpoint is set. Without
// that, every span here is the API's non-recording span, which costs a few
// nanoseconds and no allocation of its own.
package tracing

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentationName names the tracer of Cricket's own spans.
const InstrumentationName = "github.com/cricket-cri/cricket"

// Span names of the steps the CRI calls are made of.
const (
	SpanImagePull      = "image.pull"
	SpanImageResolve   = "image.resolve"
	SpanImageVerify    = "image.verify_signatures"
	SpanImageUnpack    = "image.unpack"
	SpanCNISetup       = "cni.setup"
	SpanCNITeardown    = "cni.teardown"
	SpanShimStart      = "shim.start"
	SpanExecutorCreate = "executor.create"
	SpanExecutorStart  = "executor.start"
)

// Start begins a span named name as a child of the span in ctx, with the
// tracer of the provider installed now (otel.SetTracerProvider; a no-op
// before cricketd installs one). The tracer is looked up on each call, not
// kept: a tracer taken from otel's global before the first install stays
// bound to that first provider, even after another one replaces it. The SDK
// provider keeps its tracers by name, so the lookup is a map read.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return otel.Tracer(InstrumentationName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// End records err, if any, on span and ends it. It is meant to be deferred
// with a pointer to the function's named error result.
func End(span trace.Span, err *error) {
	if err != nil && *err != nil && span.IsRecording() {
		span.RecordError(*err)
		span.SetStatus(codes.Error, (*err).Error())
	}
	span.End()
}
