package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// StatsService is what the stats and metrics RPCs need of the stats
// collector (*stats.Collector).
type StatsService interface {
	Container(ctx context.Context, ref stats.ContainerRef) (*stats.ContainerStats, error)
	Pod(ctx context.Context, ref stats.PodRef, containers []stats.ContainerRef) (*stats.PodStats, error)
}

const statsArea = "streaming and stats"

// statsBatch is how many objects one message of a Stream*Stats or
// StreamPodSandboxMetrics RPC carries: each is measured before it is sent,
// so batches are smaller than streamChunk to keep the stream moving. A
// variable so that tests can make it small.
var statsBatch = 100

// statsDeps are the services the stats and metrics RPCs use.
type statsDeps struct {
	stats      StatsService
	sandboxes  PodService
	containers ContainerService
}

// statsServices returns what the stats RPCs need, or an Unimplemented
// error naming rpc while the daemon runs without any of it.
func (s *Service) statsServices(rpc string) (statsDeps, error) {
	if s.deps.Stats == nil || s.deps.Pods == nil || s.deps.Containers == nil {
		return statsDeps{}, notImplemented(rpc, statsArea)
	}
	return statsDeps{stats: s.deps.Stats, sandboxes: s.deps.Pods, containers: s.deps.Containers}, nil
}

func containerRef(c *container.Container) stats.ContainerRef {
	return stats.ContainerRef{ID: c.ID, Bundle: c.Bundle, Pid: c.Status().Pid}
}

func podRef(sb *sandbox.Sandbox) stats.PodRef {
	return stats.PodRef{ID: sb.ID, CgroupPath: sb.CgroupPath, NetNS: sb.Namespaces.Network}
}

// readyPods lists the ready pod sandboxes f selects: a stopped pod has
// nothing left to measure.
func (d statsDeps) readyPods(f sandbox.Filter) []*sandbox.Sandbox {
	ready := sandbox.StateReady
	f.State = &ready
	return d.sandboxes.List(f)
}

// podStats measures sb and its containers; the containers are returned
// too, keyed by ID, for their attributes.
func (d statsDeps) podStats(ctx context.Context, sb *sandbox.Sandbox) (*stats.PodStats, map[string]*container.Container, error) {
	ctrs := d.containers.List(container.Filter{PodID: sb.ID})
	byID := make(map[string]*container.Container, len(ctrs))
	refs := make([]stats.ContainerRef, 0, len(ctrs))
	for _, c := range ctrs {
		byID[c.ID] = c
		refs = append(refs, containerRef(c))
	}
	ps, err := d.stats.Pod(ctx, podRef(sb), refs)
	return ps, byID, err
}

// batcher sends items in messages of at most n, never an empty one.
type batcher[T any] struct {
	n    int
	buf  []T
	send func([]T) error
}

func (b *batcher[T]) add(item T) error {
	b.buf = append(b.buf, item)
	if len(b.buf) < b.n {
		return nil
	}
	return b.flush()
}

func (b *batcher[T]) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	err := b.send(b.buf)
	b.buf = nil
	return err
}

// collect returns a function that appends to *out, for the List RPCs that
// share a walk with their Stream variant.
func collect[T any](out *[]T) func(T) error {
	return func(item T) error {
		*out = append(*out, item)
		return nil
	}
}

func uint64Value(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }
