package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/otlptest"
)

// The kubelet's trace context, as KubeletTracing sends it in the gRPC
// metadata of every CRI call.
const (
	kubeletTraceID = "0af7651916cd43dd8448eb211c80319c"
	kubeletSpanID  = "b7ad6b7169203331"
)

// TestTracingContinuesTheKubeletsTrace runs a pod's life with the kubelet's
// traceparent and checks that the test's OTLP collector receives the CRI
// calls' spans as children of the kubelet's span, and the steps' spans
// inside them, all in the kubelet's trace.
func TestTracingContinuesTheKubeletsTrace(t *testing.T) {
	col := otlptest.Start(t)
	d := startImageDaemonWith(t, sharedMirror(t).Addrs(),
		fmt.Sprintf("\n[tracing]\nendpoint = %q\nsampling_ratio = 0.0\nservice_name = \"cricketd-it\"\n", col.Addr()))
	t.Cleanup(func() { removeAllPods(t, d) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+kubeletTraceID+"-"+kubeletSpanID+"-01")

	if _, err := d.Image().PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: podImage}}); err != nil {
		t.Fatalf("PullImage: %v", err)
	}
	rt := d.Runtime()
	pod := testPod(t, "traced", runtimeapi.NamespaceMode_CONTAINER)
	run, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	created, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: run.PodSandboxId,
		Config: testContainer("c", "sleep 1000"), SandboxConfig: pod})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: run.PodSandboxId}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	// A call without the kubelet's context starts a trace of its own, which
	// sampling_ratio 0 drops.
	if _, err := rt.Version(context.Background(), &runtimeapi.VersionRequest{}); err != nil {
		t.Fatal(err)
	}

	calls := []string{"runtime.v1.ImageService/PullImage", "runtime.v1.RuntimeService/RunPodSandbox",
		"runtime.v1.RuntimeService/CreateContainer", "runtime.v1.RuntimeService/StartContainer",
		"runtime.v1.RuntimeService/StopPodSandbox"}
	steps := []string{"image.pull", "image.resolve", "image.unpack", "cni.setup", "shim.start",
		"executor.create", "executor.start", "cni.teardown"}
	testutil.Eventually(t, "the spans of the pod's life reach the collector", 30*time.Second, func() error {
		got := spanNames(col.Trace(kubeletTraceID))
		var missing []string
		for _, n := range append(append([]string(nil), calls...), steps...) {
			if !slices.Contains(got, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing spans %v; the kubelet's trace has %v", missing, got)
		}
		return nil
	})
	spans := col.Trace(kubeletTraceID)
	byID := map[string]otlptest.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	for _, s := range spans {
		switch {
		case slices.Contains(calls, s.Name):
			if s.ParentSpanID != kubeletSpanID {
				t.Errorf("CRI span %s has parent %q, want the kubelet's span %s", s.Name, s.ParentSpanID, kubeletSpanID)
			}
		case slices.Contains(steps, s.Name):
			if _, ok := byID[s.ParentSpanID]; !ok {
				t.Errorf("step span %s has parent %q, which is no span of the trace", s.Name, s.ParentSpanID)
			}
		}
		if s.Service != "cricketd-it" {
			t.Errorf("span %s has service.name %q", s.Name, s.Service)
		}
		if s.Error {
			t.Errorf("span %s has an error status", s.Name)
		}
	}
	for _, s := range col.Spans() {
		if s.TraceID != kubeletTraceID {
			t.Errorf("span %s of trace %s was exported; sampling_ratio 0 should drop traces that start in cricketd", s.Name, s.TraceID)
		}
	}
	if log := d.RunLog(); !strings.Contains(log, `traceID="`+kubeletTraceID+`"`) {
		t.Errorf("no request log line names the kubelet's trace id %s", kubeletTraceID)
	}
}

func spanNames(spans []otlptest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// TestTracingEndpointMovesOnSIGHUP: a new [tracing] endpoint takes over the
// export on SIGHUP, without a restart.
func TestTracingEndpointMovesOnSIGHUP(t *testing.T) {
	first, second := otlptest.Start(t), otlptest.Start(t)
	tracing := func(c *otlptest.Collector) string {
		return fmt.Sprintf("\n[tracing]\nendpoint = %q\nsampling_ratio = 0.0\n", c.Addr())
	}
	d := startImageDaemonWith(t, sharedMirror(t).Addrs(), tracing(first))
	pid := d.Pid()
	call := func(traceID string) {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+traceID+"-"+kubeletSpanID+"-01")
		if _, err := d.Runtime().Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	waitSpans := func(c *otlptest.Collector, traceID string) {
		testutil.Eventually(t, "the Version span at "+c.Addr(), 30*time.Second, func() error {
			if len(c.Trace(traceID)) == 0 {
				return fmt.Errorf("no span of trace %s", traceID)
			}
			return nil
		})
	}
	const before, after = "11111111111111111111111111111111", "22222222222222222222222222222222"
	call(before)
	waitSpans(first, before)
	if err := os.WriteFile(d.Config, []byte(handlerConfig(t)+tracing(second)), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(t, d, "configuration reloaded")
	call(after)
	waitSpans(second, after)
	if n := len(first.Trace(after)); n != 0 {
		t.Errorf("the old collector got %d spans after the reload", n)
	}
	if d.Pid() != pid {
		t.Errorf("the daemon restarted (pid %d, was %d)", d.Pid(), pid)
	}
	if !strings.Contains(d.RunLog(), "tracing endpoint changed") {
		t.Error("the log does not say the tracing endpoint changed")
	}
}
