// Package networktest provides a fake of the network layer for unit tests.
package networktest

import (
	"sync"
)

// Fake implements the network service the CRI adapter consumes.
type Fake struct {
	mu sync.Mutex
	// StatusErr is returned by Status.
	StatusErr error
	// SetErr is returned by SetPodCIDR.
	SetErr  error
	podCIDR string
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
