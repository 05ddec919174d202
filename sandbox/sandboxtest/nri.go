package sandboxtest

import (
	"context"
	"sync"

	"github.com/cricket-cri/cricket/sandbox"
)

// NRI is a fake sandbox.NRI: it records each hook as "Hook:podID" and
// fails the hooks named in Fail. Visible, when set, is asked during
// RunPodSandbox whether the pod can already be seen.
type NRI struct {
	mu      sync.Mutex
	events  []string
	Fail    map[string]error
	Visible func(id string) bool
	// SeenDuringRun records what Visible said during RunPodSandbox.
	SeenDuringRun []bool
	blocked       int
}

// BlockSync counts the holds, released by unblock.
func (f *NRI) BlockSync() func() {
	f.mu.Lock()
	f.blocked++
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.blocked--
		f.mu.Unlock()
	}
}

// Blocked returns how many BlockSync holds are not released.
func (f *NRI) Blocked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked
}

// RunPodSandbox records the event.
func (f *NRI) RunPodSandbox(_ context.Context, sb *sandbox.Sandbox) error {
	if f.Visible != nil {
		v := f.Visible(sb.ID)
		f.mu.Lock()
		f.SeenDuringRun = append(f.SeenDuringRun, v)
		f.mu.Unlock()
	}
	return f.record("RunPodSandbox", sb)
}

// StopPodSandbox records the event.
func (f *NRI) StopPodSandbox(_ context.Context, sb *sandbox.Sandbox) error {
	return f.record("StopPodSandbox", sb)
}

// RemovePodSandbox records the event.
func (f *NRI) RemovePodSandbox(_ context.Context, sb *sandbox.Sandbox) error {
	return f.record("RemovePodSandbox", sb)
}

func (f *NRI) record(hook string, sb *sandbox.Sandbox) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, hook+":"+sb.ID)
	return f.Fail[hook]
}

// Events returns the recorded events in order.
func (f *NRI) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}
