// Package index keeps the in-memory set of pods or containers by ID and
// finds them by full ID or unique ID prefix, as crictl users type them.
package index

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Index maps IDs to objects. It is safe for concurrent use; the lock is held
// only around map access, never around work on an object.
type Index[T any] struct {
	kind string
	mu   sync.RWMutex
	m    map[string]T
}

// New returns an empty index; kind names the objects in errors ("pod sandbox").
func New[T any](kind string) *Index[T] {
	return &Index[T]{kind: kind, m: map[string]T{}}
}

// Add stores v under id, replacing any previous value.
func (x *Index[T]) Add(id string, v T) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.m[id] = v
}

// Delete removes id; a missing id is no error.
func (x *Index[T]) Delete(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.m, id)
}

// Get returns the object whose ID is id or starts with it. An unknown or
// empty id is ErrNotFound; a prefix matching several is ErrInvalidArgument.
func (x *Index[T]) Get(id string) (T, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var zero T
	if id == "" {
		return zero, fmt.Errorf("%s with empty id: %w", x.kind, errdefs.ErrNotFound)
	}
	if v, ok := x.m[id]; ok {
		return v, nil
	}
	var found []string
	for k := range x.m {
		if strings.HasPrefix(k, id) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return zero, fmt.Errorf("%s %q: %w", x.kind, id, errdefs.ErrNotFound)
	case 1:
		return x.m[found[0]], nil
	}
	return zero, fmt.Errorf("%s id prefix %q matches %d objects: %w", x.kind, id, len(found), errdefs.ErrInvalidArgument)
}

// List returns every object, ordered by ID.
func (x *Index[T]) List() []T {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ids := make([]string, 0, len(x.m))
	for k := range x.m {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	out := make([]T, 0, len(ids))
	for _, k := range ids {
		out = append(out, x.m[k])
	}
	return out
}

// MatchLabels reports whether labels hold every key and value of selector.
func MatchLabels(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
