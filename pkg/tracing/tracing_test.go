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
