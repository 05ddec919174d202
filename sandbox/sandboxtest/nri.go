package sandboxtest

import (
	"context"
	"sync"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/nri/nritest"
)

// NRI is a fake sandbox.NRI: it records each hook as "Hook:podID" and
// fails the hooks named in Fail. Visible, when set, is asked during
// RunPodSandbox whether the pod can already be seen.
type NRI struct {
	nritest.Recorder
	Visible func(id string) bool
	// SeenDuringRun records what Visible said during RunPodSandbox.
	SeenDuringRun []bool
	mu            sync.Mutex
}

// RunPodSandbox records the event.
func (f *NRI) RunPodSandbox(_ context.Context, sb *sandbox.Sandbox) error {
	if f.Visible != nil {
		v := f.Visible(sb.ID)
		f.mu.Lock()
		f.SeenDuringRun = append(f.SeenDuringRun, v)
		f.mu.Unlock()
	}
	return f.Record("RunPodSandbox", sb.ID)
}

// StopPodSandbox records the event.
func (f *NRI) StopPodSandbox(_ context.Context, sb *sandbox.Sandbox) error {
	return f.Record("StopPodSandbox", sb.ID)
}

// RemovePodSandbox records the event.
func (f *NRI) RemovePodSandbox(_ context.Context, sb *sandbox.Sandbox) error {
	return f.Record("RemovePodSandbox", sb.ID)
}
