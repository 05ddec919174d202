// Package otlp wires OpenTelemetry's SDK for cricketd when [tracing]
// endpoint is set: a tracer provider that batches spans to an OTLP/gRPC
// collector, the W3C trace-context propagator that continues the kubelet's
// traces, and the gRPC stats handler that makes one span per CRI call. The
// code that marks steps uses only the API (pkg/tracing); nothing of this is
// linked into the shim.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Provider is cricketd's tracer provider and the exporter behind it.
type Provider struct {
	tp       *sdktrace.TracerProvider
	exporter *swapExporter
	sampler  *ratioSampler
	service  string

	mu       sync.Mutex
	endpoint string
}

// Options tune a Provider; tests shorten the batching delay.
type Options struct {
	// Batch are the options of the batching span processor.
	Batch []sdktrace.BatchSpanProcessorOption
	// Version is cricketd's version, the service.version of the spans.
	Version string
}

// New returns nil when cfg has no endpoint: tracing is off and nothing is
// installed. Otherwise it installs the provider and the propagator as
// OpenTelemetry's globals, which pkg/tracing's spans go through.
func New(ctx context.Context, cfg config.Tracing, opts Options) (*Provider, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	exp, err := newExporter(ctx, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	p := &Provider{exporter: &swapExporter{}, sampler: newRatioSampler(cfg.SamplingRatio),
		service: cfg.ServiceName, endpoint: cfg.Endpoint}
	p.exporter.cur.Store(&exp)
	res := resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", opts.Version),
	)
	p.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(p.sampler)),
		sdktrace.WithBatcher(p.exporter, opts.Batch...),
	)
	otel.SetTracerProvider(p.tp)
	otel.SetTextMapPropagator(propagator())
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		klog.ErrorS(err, "tracing", "endpoint", p.Endpoint())
	}))
	return p, nil
}

func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// newExporter makes an OTLP/gRPC exporter for endpoint: host:port is plain
// text (a collector on the node or in the cluster, as CRI-O's and
// containerd's defaults are), an https:// URL is TLS with the system roots.
// It does not connect: a collector that is down costs dropped spans, never
// a failed start.
func newExporter(ctx context.Context, endpoint string) (sdktrace.SpanExporter, error) {
	if err := config.CheckTracingEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("tracing endpoint: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	opt := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure()}
	if strings.Contains(endpoint, "://") {
		opt = []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
	}
	exp, err := otlptracegrpc.New(ctx, opt...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", endpoint, err)
	}
	return exp, nil
}

// ServerOptions returns the gRPC server option that makes a span of every
// CRI call, continuing the trace context in the call's metadata (the
// kubelet's traceparent). A nil Provider returns none.
func (p *Provider) ServerOptions() []grpc.ServerOption {
	if p == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(p.tp),
		otelgrpc.WithPropagators(propagator()),
	))}
}

// Endpoint is the collector spans are sent to now.
func (p *Provider) Endpoint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endpoint
}

// ErrRestartNeeded is returned by Reload for a change it cannot apply live.
var ErrRestartNeeded = errors.New("needs a restart")

// Reload applies a new [tracing] section: a new endpoint takes over the
// export at once (spans already batched go to the new one), a new sampling
// ratio applies to the next trace. Turning tracing on or off, or renaming
// the service, needs a restart: Reload leaves those alone and says so.
func (p *Provider) Reload(ctx context.Context, cfg config.Tracing) error {
	if p == nil {
		if cfg.Endpoint != "" {
			return fmt.Errorf("tracing.endpoint: turning tracing on %w", ErrRestartNeeded)
		}
		return nil
	}
	var errs []error
	if cfg.Endpoint == "" {
		errs = append(errs, fmt.Errorf("tracing.endpoint: turning tracing off %w", ErrRestartNeeded))
	} else if err := p.setEndpoint(ctx, cfg.Endpoint); err != nil {
		errs = append(errs, err)
	}
	p.sampler.set(cfg.SamplingRatio)
	if cfg.ServiceName != p.service {
		errs = append(errs, fmt.Errorf("tracing.service_name: %w", ErrRestartNeeded))
	}
	return errors.Join(errs...)
}

func (p *Provider) setEndpoint(ctx context.Context, endpoint string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if endpoint == p.endpoint {
		return nil
	}
	exp, err := newExporter(ctx, endpoint)
	if err != nil {
		return err
	}
	old := p.exporter.cur.Swap(&exp)
	p.endpoint = endpoint
	klog.InfoS("tracing endpoint changed", "endpoint", endpoint)
	go func() {
		// The old exporter may be in the middle of an export; its
		// shutdown waits for that, bounded.
		if err := (*old).Shutdown(context.WithoutCancel(ctx)); err != nil {
			klog.V(2).InfoS("shut down the previous tracing exporter", "err", err)
		}
	}()
	return nil
}

// Shutdown sends the spans still batched and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}

// swapExporter forwards to the exporter of the current endpoint, so that
// the batching processor and the provider outlive a change of endpoint.
type swapExporter struct {
	cur atomic.Pointer[sdktrace.SpanExporter]
}

func (s *swapExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	return (*s.cur.Load()).ExportSpans(ctx, spans)
}

func (s *swapExporter) Shutdown(ctx context.Context) error {
	return (*s.cur.Load()).Shutdown(ctx)
}

// ratioSampler is TraceIDRatioBased with a ratio that can change.
type ratioSampler struct {
	cur atomic.Pointer[sdktrace.Sampler]
}

func newRatioSampler(ratio float64) *ratioSampler {
	s := &ratioSampler{}
	s.set(ratio)
	return s
}

func (s *ratioSampler) set(ratio float64) {
	smp := sdktrace.TraceIDRatioBased(ratio)
	s.cur.Store(&smp)
}

func (s *ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return (*s.cur.Load()).ShouldSample(p)
}

func (s *ratioSampler) Description() string { return (*s.cur.Load()).Description() }
