// Package metrics holds the daemon's own Prometheus metrics — about the
// runtime itself, not about containers (those are served through the CRI) —
// and the HTTP endpoint that exposes them, with an opt-in pprof.
//
// The collectors are package-level so that any layer can record into them
// without plumbing; they are registered in Registry, never in the global
// Prometheus registry.
package metrics

import (
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "cricket"

// Registry holds every collector of this package.
var Registry = prometheus.NewRegistry()

var (
	// RequestDuration is the latency of CRI requests by RPC and gRPC code.
	RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "cri", Name: "request_duration_seconds",
		Help:    "Latency of CRI requests by RPC and gRPC status code.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
	}, []string{"rpc", "code"})
	// RequestErrors counts CRI requests that failed, by RPC and gRPC code.
	RequestErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "cri", Name: "request_errors_total",
		Help: "CRI requests that returned an error, by RPC and gRPC status code.",
	}, []string{"rpc", "code"})
	// PullBytes counts bytes downloaded from registries.
	PullBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "image", Name: "pull_bytes_total",
		Help: "Bytes downloaded from registries (manifests excluded).",
	})
	// PullDuration is the duration of image pulls by result.
	PullDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "image", Name: "pull_duration_seconds",
		Help:    "Duration of image pulls, resolve to recorded image, by result.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
	}, []string{"result"})
	// PodStartPhase is the duration of each phase of starting a pod.
	PodStartPhase = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "pod", Name: "start_phase_duration_seconds",
		Help:    "Duration of the phases of pod start: namespaces, cni, shim (RunPodSandbox) and executor (StartContainer).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"phase"})
	// ConfigGeneration counts the configurations the daemon has run with:
	// 1 at start, one more at each successful reload.
	ConfigGeneration = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "config", Name: "generation",
		Help: "Generation of the running configuration: 1 at start, one more at each successful reload (SIGHUP).",
	})
	// ConfigLastReloadSuccess is when the configuration was last loaded
	// successfully (start or reload), in Unix seconds.
	ConfigLastReloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "config", Name: "last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful configuration load: start-up or reload (SIGHUP).",
	})
)

// Pod start phases.
const (
	PhaseNamespaces = "namespaces"
	PhaseCNI        = "cni"
	PhaseShim       = "shim"
	PhaseExecutor   = "executor"
)

func init() {
	Registry.MustRegister(RequestDuration, RequestErrors, PullBytes, PullDuration, PodStartPhase,
		ConfigGeneration, ConfigLastReloadSuccess,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// ObservePhase records the duration of a pod start phase begun at start.
func ObservePhase(phase string, start time.Time) {
	PodStartPhase.WithLabelValues(phase).Observe(time.Since(start).Seconds())
}

// RegisterShimCount exposes the number of running per-pod shims, as counted
// by count at each scrape.
func RegisterShimCount(count func() float64) error {
	return Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "shims",
		Help: "Per-pod shims the daemon knows as running.",
	}, count))
}

// CountingReader counts what is read through it into PullBytes.
type CountingReader struct{ R io.Reader }

func (c CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	PullBytes.Add(float64(n))
	return n, err
}
