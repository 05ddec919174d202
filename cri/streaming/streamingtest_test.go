package streaming

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
)

// fakeShim records the sessions asked of it and plays a scripted part.
type fakeShim struct {
	mu       sync.Mutex
	execs    []shimclient.StreamExecRequest
	attaches []shimclient.StreamAttachRequest
	sizes    []shimapi.Winsize

	// code and err are Exec's answer; output is written to Stdout.
	code   int
	err    error
	output string
}

func (f *fakeShim) Exec(_ context.Context, req shimclient.StreamExecRequest) (int, error) {
	f.mu.Lock()
	f.execs = append(f.execs, req)
	f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	if req.Stdout != nil {
		_, _ = io.WriteString(req.Stdout, f.output)
	}
	f.collect(req.Resize)
	return f.code, nil
}

func (f *fakeShim) Attach(_ context.Context, req shimclient.StreamAttachRequest) error {
	f.mu.Lock()
	f.attaches = append(f.attaches, req)
	f.mu.Unlock()
	if req.Stdout != nil {
		_, _ = io.WriteString(req.Stdout, f.output)
	}
	f.collect(req.Resize)
	return f.err
}

// collect drains resize events until the channel closes.
func (f *fakeShim) collect(ch <-chan shimapi.Winsize) {
	if ch == nil {
		return
	}
	for ws := range ch {
		f.mu.Lock()
		f.sizes = append(f.sizes, ws)
		f.mu.Unlock()
	}
}

// fakeLookup serves Containers and Pods from maps.
type fakeLookup struct {
	targets map[string]Target
	netns   map[string]string
}

func (l fakeLookup) StreamTarget(_ context.Context, id string) (Target, error) {
	t, ok := l.targets[id]
	if !ok {
		return Target{}, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return t, nil
}

func (l fakeLookup) NetNS(_ context.Context, podID string) (string, error) {
	p, ok := l.netns[podID]
	if !ok {
		return "", fmt.Errorf("pod sandbox %s: %w", podID, errdefs.ErrNotFound)
	}
	return p, nil
}

// nopWriteCloser is an io.WriteCloser over a writer.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
