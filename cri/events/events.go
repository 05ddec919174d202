// Package events fans container life-cycle events out to any number of
// subscribers (GetContainerEvents streams). Each event carries the status
// of the container's pod sandbox and of all its containers as they were
// when it was published, built by a callback the daemon supplies.
//
// Publishing never blocks: every subscriber has a bounded buffer, and a
// subscriber whose buffer is full is disconnected rather than allowed to
// hold up the runtime or the other subscribers. A kubelet whose event
// stream ends falls back to relisting and subscribes again.
package events

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// DefaultBuffer is how many events a subscriber may lag behind before it
// is disconnected: a few hundred pod life-cycles' worth, as containerd's
// event queue allows.
const DefaultBuffer = 1024

// StatusFunc returns the CRI status of a pod sandbox and of all its
// containers; a pod that is gone yields a nil pod status.
type StatusFunc func(podID string) (*runtimeapi.PodSandboxStatus, []*runtimeapi.ContainerStatus)

// Options configure a Broker.
type Options struct {
	// Statuses builds the statuses every event carries; nil sends events
	// without them until SetStatuses is called.
	Statuses StatusFunc
	// Buffer is each subscriber's buffer; 0 means DefaultBuffer.
	Buffer int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Broker fans events out to subscribers.
type Broker struct {
	opts     Options
	statuses atomic.Pointer[StatusFunc]

	// mu orders publications: every subscriber sees events in the same
	// order. It is held only for non-blocking sends.
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// New returns a broker.
func New(opts Options) *Broker {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Broker{opts: opts, subs: map[*Subscription]struct{}{}}
	if opts.Statuses != nil {
		b.SetStatuses(opts.Statuses)
	}
	return b
}

// SetStatuses sets the function that builds the statuses events carry. It
// exists because the container service that publishes is built before the
// services the function reads; it may be called while events flow.
func (b *Broker) SetStatuses(f StatusFunc) {
	b.statuses.Store(&f)
}

// Publish sends an event of type t about container containerID of pod
// podID to every subscriber. It never blocks on a subscriber: one whose
// buffer is full is disconnected with an ErrResourceExhausted error.
//
// The statuses are built before the broker's lock is taken, so the caller
// must not hold a lock the StatusFunc takes (a container's status lock).
func (b *Broker) Publish(t runtimeapi.ContainerEventType, containerID, podID string) {
	if b.Subscribers() == 0 {
		// Nobody listens (no evented kubelet, or start-up recovery):
		// spare building the statuses.
		return
	}
	ev := &runtimeapi.ContainerEventResponse{ContainerId: containerID, ContainerEventType: t}
	if f := b.statuses.Load(); f != nil && *f != nil {
		ev.PodSandboxStatus, ev.ContainersStatuses = (*f)(podID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// The timestamp is taken under the lock so that it never goes
	// backwards along the stream.
	ev.CreatedAt = b.opts.Now().UnixNano()
	for sub := range b.subs {
		select {
		case sub.c <- ev:
		default:
			b.dropLocked(sub, fmt.Errorf("event subscriber fell %d events behind and was disconnected: %w", cap(sub.c), errdefs.ErrResourceExhausted))
		}
	}
}

// Subscribe returns a new subscription; it receives every event published
// from now on until it is closed or falls behind.
func (b *Broker) Subscribe() *Subscription {
	sub := &Subscription{b: b, c: make(chan *runtimeapi.ContainerEventResponse, b.opts.Buffer), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		sub.err = fmt.Errorf("event broker is shut down: %w", errdefs.ErrUnavailable)
		close(sub.c)
		close(sub.done)
		return sub
	}
	b.subs[sub] = struct{}{}
	return sub
}

// Subscribers returns how many subscriptions are open.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Close disconnects every subscriber with an ErrUnavailable error; later
// publications go nowhere.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for sub := range b.subs {
		b.dropLocked(sub, fmt.Errorf("event broker is shut down: %w", errdefs.ErrUnavailable))
	}
}

// dropLocked ends sub with err; b.mu is held.
func (b *Broker) dropLocked(sub *Subscription, err error) {
	if _, ok := b.subs[sub]; !ok {
		return
	}
	delete(b.subs, sub)
	sub.err = err
	close(sub.c)
	close(sub.done)
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	b    *Broker
	c    chan *runtimeapi.ContainerEventResponse
	done chan struct{}
	// err is set before c is closed, under b.mu.
	err error
}

// Events returns the subscription's events, in publication order. The
// channel is closed when the subscription ends; Err then says why.
func (s *Subscription) Events() <-chan *runtimeapi.ContainerEventResponse { return s.c }

// Done is closed when the subscription ends, even while buffered events
// remain unread.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended: nil while it is open or after
// Close, ErrResourceExhausted when it fell behind, ErrUnavailable when the
// broker shut down.
func (s *Subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Close ends the subscription; closing twice is harmless.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.dropLocked(s, nil)
}
