package sandboxtest

import (
	"fmt"
	"maps"
	"sync"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/selinux"
)

// Labels is a fake sandbox.Labels: each pod gets level s0:c1,c<n>, and
// reservations are kept to be checked.
type Labels struct {
	mu       sync.Mutex
	n        int
	reserved map[string]bool
}

// PodLabels implements sandbox.Labels; a level "bad" is refused.
func (l *Labels) PodLabels(o selinux.Options) (selinux.Labels, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o.Level == "bad" {
		return selinux.Labels{}, fmt.Errorf("selinux level %q: %w", o.Level, errdefs.ErrInvalidArgument)
	}
	level := o.Level
	if level == "" {
		l.n++
		level = fmt.Sprintf("s0:c1,c%d", l.n+1)
	}
	if l.reserved == nil {
		l.reserved = map[string]bool{}
	}
	l.reserved[level] = true
	return selinux.Labels{Process: "system_u:system_r:container_t:" + level, Mount: "system_u:object_r:container_file_t:" + level}, nil
}

// Reserve implements sandbox.Labels.
func (l *Labels) Reserve(s selinux.Labels) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reserved == nil {
		l.reserved = map[string]bool{}
	}
	l.reserved[selinux.Level(s.Process)] = true
}

// Release implements sandbox.Labels.
func (l *Labels) Release(s selinux.Labels) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.reserved, selinux.Level(s.Process))
}

// Reserved returns the levels in use.
func (l *Labels) Reserved() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.reserved)
}
