// Package nritest holds what the fake NRI adapters of the pod and
// container services (sandboxtest.NRI, containertest.NRI) share.
package nritest

import "sync"

// Recorder records NRI hook events in order, fails the hooks named in
// Fail, and counts the plugin-sync holds taken and not released.
type Recorder struct {
	mu      sync.Mutex
	events  []string
	Fail    map[string]error
	blocked int
	// OnUnblock, when set, runs as a hold is released, before it counts
	// as released: it sees what the sync of a plugin that waited for the
	// hold would list.
	OnUnblock func()
}

// BlockSync counts the holds, released by unblock.
func (r *Recorder) BlockSync() func() {
	r.mu.Lock()
	r.blocked++
	r.mu.Unlock()
	return func() {
		if r.OnUnblock != nil {
			r.OnUnblock()
		}
		r.mu.Lock()
		r.blocked--
		r.mu.Unlock()
	}
}

// Blocked returns how many BlockSync holds are not released.
func (r *Recorder) Blocked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blocked
}

// Record records the event "hook:key" and returns the error Fail names
// for hook.
func (r *Recorder) Record(hook, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, hook+":"+key)
	return r.Fail[hook]
}

// Events returns the recorded events in order.
func (r *Recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}
