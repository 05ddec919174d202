// Package otlptest is an OTLP/gRPC trace collector for tests: it listens on
// 127.0.0.1 and keeps every span it receives.
package otlptest

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is a received span, flattened.
type Span struct {
	Name         string
	TraceID      string // hex
	SpanID       string // hex
	ParentSpanID string // hex, empty for a root span
	Service      string // the resource's service.name
	Attributes   map[string]string
	// Error is true when the span's status is an error.
	Error bool
}

// Collector is a running OTLP/gRPC trace receiver.
type Collector struct {
	collectortrace.UnimplementedTraceServiceServer
	lis net.Listener
	srv *grpc.Server

	mu    sync.Mutex
	spans []Span
}

// Start runs a collector on a free port of 127.0.0.1 until t ends.
func Start(t testing.TB) *Collector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{lis: lis, srv: grpc.NewServer()}
	collectortrace.RegisterTraceServiceServer(c.srv, c)
	go func() { _ = c.srv.Serve(lis) }()
	t.Cleanup(c.srv.Stop)
	return c
}

// Addr is the collector's host:port.
func (c *Collector) Addr() string { return c.lis.Addr().String() }

// Export implements the OTLP trace service.
func (c *Collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, flatten(s, service))
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func flatten(s *tracepb.Span, service string) Span {
	out := Span{
		Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		ParentSpanID: hex.EncodeToString(s.GetParentSpanId()), Service: service, Attributes: map[string]string{},
		Error: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
	}
	for _, kv := range s.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			out.Attributes[kv.GetKey()] = v.GetStringValue()
		default:
			out.Attributes[kv.GetKey()] = v.String()
		}
	}
	return out
}

// Spans returns every span received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Trace returns the spans received so far of the trace traceID (hex).
func (c *Collector) Trace(traceID string) []Span {
	var out []Span
	for _, s := range c.Spans() {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}
