package containertest

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/nri/nritest"
)

// NRI is a fake container.NRI: it records each hook as "Hook:name" (the
// container's CRI name), fails the hooks named in Fail, and on
// CreateContainer applies Adjust to the spec.
type NRI struct {
	nritest.Recorder
	Adjust func(*specs.Spec)
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
	return f.Record(hook, c.Config.GetMetadata().GetName())
}
