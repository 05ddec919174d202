package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func sandboxFilter(f *runtimeapi.PodSandboxFilter) sandbox.Filter {
	out := sandbox.Filter{ID: f.GetId(), Labels: f.GetLabelSelector()}
	if v := f.GetState(); v != nil {
		st := fromCRISandboxState(v.GetState())
		out.State = &st
	}
	return out
}

// containerFilter converts f; ok is false when f selects nothing (the
// UNKNOWN state).
func containerFilter(f *runtimeapi.ContainerFilter) (out container.Filter, ok bool) {
	out = container.Filter{ID: f.GetId(), PodID: f.GetPodSandboxId(), Labels: f.GetLabelSelector()}
	if v := f.GetState(); v != nil {
		st, known := fromCRIContainerState(v.GetState())
		if !known {
			return out, false
		}
		out.State = &st
	}
	return out, true
}

// streamChunk is how many objects one message of a Stream* RPC carries.
const streamChunk = 500

// chunks splits items into slices of at most n.
func chunks[T any](items []T, n int) [][]T {
	var out [][]T
	for len(items) > n {
		out = append(out, items[:n])
		items = items[n:]
	}
	return append(out, items)
}
