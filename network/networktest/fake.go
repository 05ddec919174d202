// Package networktest provides a fake of the network layer for unit tests.
package networktest

import (
	"context"
	"net"
	"sync"

	"github.com/cricket-cri/cricket/network"
)

// Fake implements the network operations the CRI adapter and the sandbox
// service consume, in memory.
type Fake struct {
	mu sync.Mutex
	// StatusErr is returned by Status.
	StatusErr error
	// SetErr is returned by SetPodCIDR.
	SetErr error
	// SetupErr and TeardownErr are returned by Setup and Teardown.
	SetupErr, TeardownErr error
	podCIDR               string
	// Attached holds the pods set up and not torn down, by ID.
	Attached map[string]*network.Pod
	// Calls records "Setup <id>", "Teardown <id>", "GC".
	Calls []string
	next  byte
}

// Status returns f.StatusErr.
func (f *Fake) Status() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.StatusErr
}

// SetPodCIDR records cidr unless f.SetErr is set.
func (f *Fake) SetPodCIDR(cidr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.SetErr != nil {
		return f.SetErr
	}
	f.podCIDR = cidr
	return nil
}

// PodCIDR returns the last CIDR set.
func (f *Fake) PodCIDR() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.podCIDR
}

// Setup attaches pod and hands out the next address of 10.99.0.0/24.
func (f *Fake) Setup(ctx context.Context, pod *network.Pod) (*network.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, "Setup "+pod.ID)
	if f.SetupErr != nil {
		return nil, f.SetupErr
	}
	if f.Attached == nil {
		f.Attached = map[string]*network.Pod{}
	}
	f.Attached[pod.ID] = pod
	f.next++
	return &network.Result{IPs: []net.IP{net.IPv4(10, 99, 0, f.next)}}, nil
}

// Teardown detaches pod.
func (f *Fake) Teardown(ctx context.Context, pod *network.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, "Teardown "+pod.ID)
	if f.TeardownErr != nil {
		return f.TeardownErr
	}
	delete(f.Attached, pod.ID)
	return nil
}

// GC detaches every pod not in live.
func (f *Fake) GC(ctx context.Context, live map[string]bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, "GC")
	for id := range f.Attached {
		if !live[id] {
			delete(f.Attached, id)
		}
	}
	return nil
}
