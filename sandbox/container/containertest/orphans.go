package containertest

import (
	"context"
	"sync"
)

// Orphans is a fake container.OrphanReaper that records the bundles it
// was asked to reap.
type Orphans struct {
	mu      sync.Mutex
	bundles []string
}

// Reap records bundle.
func (o *Orphans) Reap(_ context.Context, bundle string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bundles = append(o.bundles, bundle)
	return nil
}

// Reaped returns the bundles reaped so far.
func (o *Orphans) Reaped() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.bundles...)
}
