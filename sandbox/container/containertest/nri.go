package containertest

import (
	"context"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/sandbox/container"
)

// NRI is a fake container.NRI: it records each hook as "Hook:name" (the
// container's CRI name), fails the hooks named in Fail, and on
// CreateContainer applies Adjust to the spec.
type NRI struct {
	mu      sync.Mutex
	events  []string
	Fail    map[string]error
	Adjust  func(*specs.Spec)
	blocked int
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

// CreateContainer records the event and adjusts spec.
func (f *NRI) CreateContainer(_ context.Context, c *container.Container, spec *specs.Spec) error {
	if err := f.record("CreateContainer", c); err != nil {
		return err
	}
	if f.Adjust != nil {
		f.Adjust(spec)
	}
	return nil
}

// PostCreateContainer records the event.
func (f *NRI) PostCreateContainer(_ context.Context, c *container.Container) error {
	return f.record("PostCreateContainer", c)
}

// StartContainer records the event.
func (f *NRI) StartContainer(_ context.Context, c *container.Container) error {
	return f.record("StartContainer", c)
}

// PostStartContainer records the event.
func (f *NRI) PostStartContainer(_ context.Context, c *container.Container) error {
	return f.record("PostStartContainer", c)
}

// StopContainer records the event.
func (f *NRI) StopContainer(_ context.Context, c *container.Container) error {
	return f.record("StopContainer", c)
}

// RemoveContainer records the event.
func (f *NRI) RemoveContainer(_ context.Context, c *container.Container) error {
	return f.record("RemoveContainer", c)
}

func (f *NRI) record(hook string, c *container.Container) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, hook+":"+c.Config.GetMetadata().GetName())
	return f.Fail[hook]
}

// Events returns the recorded events in order.
func (f *NRI) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}
