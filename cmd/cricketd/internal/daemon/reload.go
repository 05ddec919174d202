package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/metrics"
)

// Reloader applies a new configuration to the running daemon (SIGHUP).
//
// A key joins live reload in two steps: its field in pkg/config carries
// the tag reload:"true" (config.Reconcile then lets a new value through
// instead of naming the key as needing a restart), and the component
// that uses it gets an Applier, registered by the composition root, that
// hands the new value to the component through one narrow method
// (image.Service.SetSettings, network.CNI.SetDirs, Services.SetHandlers,
// ...). State that requests read is swapped atomically by that method.
type Reloader struct {
	load func() (*config.Config, error)

	mu       sync.Mutex
	cur      *config.Config
	gen      int
	appliers []Applier
}

// Applier gives one component its part of a new configuration. It must
// be idempotent: after a reload in which another applier failed, the next
// reload applies the same values again. It keeps what it last applied
// itself when applying costs something (a restart of a listener).
type Applier struct {
	// Name names the component in the log ("image", "metrics", ...).
	Name  string
	Apply func(ctx context.Context, next *config.Config) error
}

// NewReloader starts at generation 1 with cur, the configuration the
// daemon started with; load reads the configuration files again (with
// the command line's flags over them).
func NewReloader(cur *config.Config, load func() (*config.Config, error)) *Reloader {
	metrics.ConfigGeneration.Set(1)
	metrics.ConfigLastReloadSuccess.SetToCurrentTime()
	return &Reloader{load: load, cur: cur, gen: 1}
}

// Register adds an applier; appliers run in the order registered.
func (r *Reloader) Register(a Applier) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appliers = append(r.appliers, a)
}

// Current is the running configuration.
func (r *Reloader) Current() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Reload reads the configuration again and applies what can change
// without touching running pods. A configuration that does not load (a
// bad file) leaves everything as it runs, and its errors are logged all
// together; a changed key that needs a restart is named in the log and
// left as it runs. When every applier succeeds the new configuration is
// the running one and the generation goes up; when one fails, it is
// named, and the running configuration stays the old one, so the next
// reload applies everything again.
func (r *Reloader) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := klog.FromContext(ctx)
	start := time.Now()
	next, err := r.load()
	if err != nil {
		log.Error(err, "configuration reload refused: the running configuration is unchanged", "generation", r.gen)
		return err
	}
	changed, refused := config.Reconcile(r.cur, next)
	if len(refused) > 0 {
		log.Info("configuration keys changed that need a restart: left unchanged until cricketd restarts", "keys", refused)
	}
	var errs []error
	for _, a := range r.appliers {
		if err := a.Apply(ctx, next); err != nil {
			errs = append(errs, fmt.Errorf("apply %s settings: %w", a.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Error(err, "configuration reload failed in part: the next reload applies it again", "generation", r.gen)
		return err
	}
	r.cur = next
	r.gen++
	metrics.ConfigGeneration.Set(float64(r.gen))
	metrics.ConfigLastReloadSuccess.SetToCurrentTime()
	log.Info("configuration reloaded", "generation", r.gen, "changed", changed, "duration", time.Since(start))
	return nil
}
