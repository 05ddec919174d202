package image

import (
	"context"
	"sync"
)

// pullGroup shares one pull among concurrent callers of the same key. The
// pull runs on its own context, cancelled only when every caller waiting
// for it has gone (each caller's own deadline still bounds its wait), so
// one impatient kubelet retry does not fail the others.
type pullGroup struct {
	mu sync.Mutex
	m  map[string]*pullCall
}

type pullCall struct {
	done    chan struct{}
	im      Image
	err     error
	waiters int
	cancel  context.CancelFunc
}

func (g *pullGroup) do(ctx context.Context, key string, fn func(context.Context) (Image, error)) (Image, error) {
	c := g.join(ctx, key, fn)
	select {
	case <-c.done:
		g.leave(key, c)
		return c.im, c.err
	case <-ctx.Done():
		g.leave(key, c)
		return Image{}, context.Cause(ctx)
	}
}

func (g *pullGroup) join(ctx context.Context, key string, fn func(context.Context) (Image, error)) *pullCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]*pullCall{}
	}
	if c, ok := g.m[key]; ok {
		c.waiters++
		return c
	}
	// The shared pull keeps the first caller's values (logger) but not its
	// cancellation.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &pullCall{done: make(chan struct{}), waiters: 1, cancel: cancel}
	g.m[key] = c
	go func() {
		c.im, c.err = fn(pctx)
		g.mu.Lock()
		if g.m[key] == c {
			delete(g.m, key)
		}
		g.mu.Unlock()
		cancel()
		close(c.done)
	}()
	return c
}

// leave drops a waiter and cancels the pull when nobody waits any more.
func (g *pullGroup) leave(key string, c *pullCall) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.waiters--
	if c.waiters == 0 {
		c.cancel()
		if g.m[key] == c {
			delete(g.m, key)
		}
	}
}
