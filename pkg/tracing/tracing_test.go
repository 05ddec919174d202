package tracing

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestStartAndEnd(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	step := func(ctx context.Context, fail error) (err error) {
		_, span := Start(ctx, SpanImageUnpack, attribute.String("k", "v"))
		defer End(span, &err)
		return fail
	}
	_ = step(context.Background(), nil)
	_ = step(context.Background(), errors.New("disk full"))
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	for i, want := range []codes.Code{codes.Unset, codes.Error} {
		s := spans[i]
		if s.Name() != SpanImageUnpack || s.Status().Code != want {
			t.Errorf("span %d: %s status %v, want %s status %v", i, s.Name(), s.Status().Code, SpanImageUnpack, want)
		}
		if len(s.Attributes()) != 1 || s.Attributes()[0].Value.AsString() != "v" {
			t.Errorf("span %d attributes = %v", i, s.Attributes())
		}
	}
	if spans[1].Status().Description != "disk full" {
		t.Errorf("error status = %q", spans[1].Status().Description)
	}
}

// A provider installed after another one gets the step spans from then on.
// otel's global delegates tracers obtained before the first install to that
// first provider for good, so a tracer kept from package init would send
// every later step span to a provider that may be shut down.
func TestStartFollowsTheCurrentProvider(t *testing.T) {
	first, second := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(first)))
	_, span := Start(context.Background(), SpanCNISetup)
	span.End()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(second)))
	_, span = Start(context.Background(), SpanCNITeardown)
	span.End()
	if got := names(second.Ended()); len(got) != 1 || got[0] != SpanCNITeardown {
		t.Errorf("the provider installed last recorded %v, want [%s]", got, SpanCNITeardown)
	}
	for _, n := range names(first.Ended()) {
		if n == SpanCNITeardown {
			t.Errorf("the replaced provider recorded %s", n)
		}
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
