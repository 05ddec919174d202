// Package registrar reserves pod and container names so that two requests
// for one name never both create an object, and generates object IDs.
//
// A reservation lives through three phases: pending (its creation runs),
// done (the object exists) and released (creation failed or the object was
// removed). A kubelet that times out while a creation still runs retries with
// the same name; instead of "name is reserved" forever, the retry waits for
// the running creation and, when that one finished after its own caller had
// gone, takes its result over (CRI-O's resource store does the same).
package registrar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// NewID returns a random 64-hex-digit object ID.
func NewID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type entry struct {
	key  string
	done chan struct{}
	// unclaimed is set when the creation finished after its caller had
	// given up: the next request for the name may take the object over.
	unclaimed bool
}

// Registrar maps names to the keys (object IDs) holding them. It is safe for
// concurrent use.
type Registrar struct {
	mu    sync.Mutex
	names map[string]*entry
}

// New returns an empty Registrar.
func New() *Registrar {
	return &Registrar{names: map[string]*entry{}}
}

// Reserve reserves name for key, whose creation is about to begin. When
// another creation of the name is still running, Reserve waits for it (up to
// ctx). It returns adopted, the key of an object that was created for an
// earlier caller who gave up before getting the answer; the caller should
// answer with that object instead of creating one (name stays with adopted).
// A name held by a live object is ErrAlreadyExists.
func (r *Registrar) Reserve(ctx context.Context, name, key string) (adopted string, err error) {
	for {
		r.mu.Lock()
		e, ok := r.names[name]
		if !ok {
			r.names[name] = &entry{key: key, done: make(chan struct{})}
			r.mu.Unlock()
			return "", nil
		}
		if e.key == key {
			r.mu.Unlock()
			return "", fmt.Errorf("name %q is already reserved for %s: %w", name, key, errdefs.ErrAlreadyExists)
		}
		select {
		case <-e.done:
			defer r.mu.Unlock()
			if e.unclaimed {
				e.unclaimed = false
				return e.key, nil
			}
			return "", fmt.Errorf("name %q is reserved for %s: %w", name, e.key, errdefs.ErrAlreadyExists)
		default:
		}
		r.mu.Unlock()
		select {
		case <-e.done:
			// Finished or released: look again.
		case <-ctx.Done():
			return "", fmt.Errorf("name %q: creation of %s still runs: %w", name, e.key, ctx.Err())
		}
	}
}

// Done marks the creation of key under name finished. claimed says whether
// the creating request could still answer its caller.
func (r *Registrar) Done(name, key string, claimed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.names[name]
	if !ok || e.key != key {
		return
	}
	e.unclaimed = !claimed
	closeOnce(e.done)
}

// Load records name as held by the existing object key (recovery after a
// restart). A name already held by another key is ErrAlreadyExists.
func (r *Registrar) Load(name, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.names[name]; ok && e.key != key {
		return fmt.Errorf("name %q is reserved for %s: %w", name, e.key, errdefs.ErrAlreadyExists)
	}
	e := &entry{key: key, done: make(chan struct{})}
	close(e.done)
	r.names[name] = e
	return nil
}

// Release frees name if key holds it, waking requests waiting for it.
func (r *Registrar) Release(name, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.names[name]
	if !ok || e.key != key {
		return
	}
	delete(r.names, name)
	closeOnce(e.done)
}

// Holder returns the key holding name.
func (r *Registrar) Holder(name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.names[name]
	if !ok {
		return "", false
	}
	return e.key, true
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// answerMargin is how long before its deadline a request must finish for
// its answer to be trusted to reach the caller: a reply sent in the last
// moments can arrive after the client gave up, and the client's retry must
// then get the object instead of "name is reserved".
const answerMargin = time.Second

// Answerable reports whether the caller of ctx can still be expected to
// receive a reply sent now; pass it to Done as claimed.
func Answerable(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < answerMargin {
		return false
	}
	return true
}
