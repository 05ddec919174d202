package otlp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/tracing"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/otlptest"
)

const (
	kubeletTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	kubeletParent = "00f067aa0ba902b7"
)

// stepHealth answers Check with one step span inside, as a CRI handler does.
type stepHealth struct{ *health.Server }

func (h stepHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	_, span := tracing.Start(ctx, "test.step")
	defer span.End()
	return h.Server.Check(ctx, req)
}

// serve runs a gRPC server with p's options and returns a client of it.
func serve(t *testing.T, p *Provider) healthpb.HealthClient {
	t.Helper()
	srv := grpc.NewServer(p.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, stepHealth{health.NewServer()})
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func newProvider(t *testing.T, cfg config.Tracing) *Provider {
	t.Helper()
	p, err := New(context.Background(), cfg, Options{Version: "test",
		Batch: []sdktrace.BatchSpanProcessorOption{sdktrace.WithBatchTimeout(50 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func check(t *testing.T, c healthpb.HealthClient, traceparent string) {
	t.Helper()
	ctx := context.Background()
	if traceparent != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
	}
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestKubeletTraceIsContinued(t *testing.T) {
	col := otlptest.Start(t)
	p := newProvider(t, config.Tracing{Endpoint: col.Addr(), SamplingRatio: 0, ServiceName: "cricketd-test"})
	check(t, serve(t, p), "00-"+kubeletTrace+"-"+kubeletParent+"-01")
	waitSpans(t, col, kubeletTrace, 2)
	var server, step otlptest.Span
	for _, s := range col.Trace(kubeletTrace) {
		switch s.Name {
		case "grpc.health.v1.Health/Check":
			server = s
		case "test.step":
			step = s
		}
	}
	if server.ParentSpanID != kubeletParent {
		t.Errorf("server span's parent = %q, want the kubelet's span %s (spans: %+v)", server.ParentSpanID, kubeletParent, col.Spans())
	}
	if step.ParentSpanID == "" || step.ParentSpanID != server.SpanID {
		t.Errorf("step span's parent = %q, want the server span %q", step.ParentSpanID, server.SpanID)
	}
	if server.Service != "cricketd-test" {
		t.Errorf("service.name = %q", server.Service)
	}
}

func TestSamplingRatioAppliesToRootsOnly(t *testing.T) {
	col := otlptest.Start(t)
	p := newProvider(t, config.Tracing{Endpoint: col.Addr(), SamplingRatio: 0, ServiceName: "cricketd"})
	c := serve(t, p)
	check(t, c, "")                                         // a root: ratio 0 drops it
	check(t, c, "00-"+kubeletTrace+"-"+kubeletParent+"-00") // the kubelet did not sample it
	// A call the kubelet sampled is kept. Its spans arriving shows the
	// export works, so that no span of the two calls before it means they
	// were dropped, not late: the server's span of a call ends after the
	// client has its reply.
	const sampled = "5bf92f3577b34da6a3ce929d0e0e4737"
	check(t, c, "00-"+sampled+"-"+kubeletParent+"-01")
	waitSpans(t, col, sampled, 2)
	if err := p.Shutdown(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}
	if got := col.Spans(); len(got) != 2 || len(col.Trace(sampled)) != 2 {
		t.Errorf("got %d spans, want only the 2 of the sampled call: %+v", len(got), got)
	}
}

// waitSpans waits until col has n spans of trace.
func waitSpans(t *testing.T, col *otlptest.Collector, trace string, n int) {
	t.Helper()
	testutil.Eventually(t, "the call's spans reach the collector", 10*time.Second, func() error {
		if got := len(col.Trace(trace)); got < n {
			return fmt.Errorf("%d of the trace's %d spans", got, n)
		}
		return nil
	})
}

func TestReloadMovesTheExportToTheNewEndpoint(t *testing.T) {
	first, second := otlptest.Start(t), otlptest.Start(t)
	cfg := config.Tracing{Endpoint: first.Addr(), SamplingRatio: 1, ServiceName: "cricketd"}
	p := newProvider(t, cfg)
	c := serve(t, p)
	cfg.Endpoint = second.Addr()
	if err := p.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if p.Endpoint() != second.Addr() {
		t.Errorf("Endpoint() = %s after reload", p.Endpoint())
	}
	check(t, c, "00-"+kubeletTrace+"-"+kubeletParent+"-01")
	// Both spans of the call (the server's ends after the client has its
	// reply) reach the new collector, and none the old one.
	waitSpans(t, second, kubeletTrace, 2)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(second.Spans()) != 2 || len(first.Spans()) != 0 {
		t.Errorf("after reload: first got %d spans, second %d; want the call's 2 on the second", len(first.Spans()), len(second.Spans()))
	}
}

func TestReloadNamesWhatNeedsARestart(t *testing.T) {
	var off *Provider
	if err := off.Reload(context.Background(), config.Tracing{}); err != nil {
		t.Errorf("off stays off: %v", err)
	}
	if err := off.Reload(context.Background(), config.Tracing{Endpoint: "127.0.0.1:4317"}); !errors.Is(err, ErrRestartNeeded) {
		t.Errorf("turning tracing on live: err = %v, want ErrRestartNeeded", err)
	}
	if opts := off.ServerOptions(); len(opts) != 0 {
		t.Errorf("tracing off installs %d server options, want none", len(opts))
	}
	col := otlptest.Start(t)
	p := newProvider(t, config.Tracing{Endpoint: col.Addr(), SamplingRatio: 1, ServiceName: "cricketd"})
	for _, cfg := range []config.Tracing{
		{Endpoint: "", SamplingRatio: 1, ServiceName: "cricketd"},
		{Endpoint: col.Addr(), SamplingRatio: 1, ServiceName: "other"},
	} {
		if err := p.Reload(context.Background(), cfg); !errors.Is(err, ErrRestartNeeded) {
			t.Errorf("Reload(%+v) = %v, want ErrRestartNeeded", cfg, err)
		}
	}
	if p.Endpoint() != col.Addr() {
		t.Errorf("a refused reload changed the endpoint to %q", p.Endpoint())
	}
}

func TestNewOffInstallsNothing(t *testing.T) {
	p, err := New(context.Background(), config.Tracing{SamplingRatio: 1, ServiceName: "cricketd"}, Options{})
	if p != nil || err != nil {
		t.Fatalf("New without endpoint = %v, %v; want nil, nil", p, err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
