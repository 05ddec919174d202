// Package statstest provides fakes of what the stats collector reads, so
// that it and the CRI stats handlers are tested without cgroups or root.
package statstest

import (
	"fmt"
	"sync"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/pkg/stats"
)

// Cgroups serves stats per cgroup path; a path without stats does not
// exist.
type Cgroups struct {
	mu    sync.Mutex
	stats map[string]*cgroups.Stats
	procs map[string][]int
	// Err, when set, is returned by Stats of existing cgroups.
	Err error
}

// NewCgroups returns fake cgroups with no cgroup.
func NewCgroups() *Cgroups {
	return &Cgroups{stats: map[string]*cgroups.Stats{}, procs: map[string][]int{}}
}

// SetProcs sets the processes of the cgroup at path.
func (c *Cgroups) SetProcs(path string, pids []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs[path] = pids
}

// Procs implements stats.Cgroups.
func (c *Cgroups) Procs(path string) ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.stats[path]; !ok {
		return nil, fmt.Errorf("cgroup %s: %w", path, errdefs.ErrNotFound)
	}
	return c.procs[path], nil
}

// Set makes the cgroup at path exist with st; nil removes it.
func (c *Cgroups) Set(path string, st *cgroups.Stats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == nil {
		delete(c.stats, path)
		return
	}
	c.stats[path] = st
}

// Exists implements stats.Cgroups.
func (c *Cgroups) Exists(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.stats[path]
	return ok
}

// Stats implements stats.Cgroups; it returns a copy.
func (c *Cgroups) Stats(path string) (*cgroups.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stats[path]
	if !ok {
		return nil, fmt.Errorf("cgroup %s: %w", path, errdefs.ErrNotFound)
	}
	if c.Err != nil {
		return nil, c.Err
	}
	cp := *st
	return &cp, nil
}

// Layers serves writable layer usage per key.
type Layers struct {
	RootDir string
	Usages  map[string]snapshot.Usage
}

// Usage implements stats.Layers.
func (l Layers) Usage(key string) (snapshot.Usage, error) {
	u, ok := l.Usages[key]
	if !ok {
		return snapshot.Usage{}, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	return u, nil
}

// Root implements stats.Layers.
func (l Layers) Root() string { return l.RootDir }

// Network serves interface counters per namespace path.
type Network map[string][]stats.Interface

// Interfaces implements stats.Network.
func (n Network) Interfaces(netnsPath string) ([]stats.Interface, error) {
	ifs, ok := n[netnsPath]
	if !ok {
		return nil, fmt.Errorf("open namespace %s: %w", netnsPath, errdefs.ErrNotFound)
	}
	return ifs, nil
}

// OOM serves OOM kill counts per cgroup path.
type OOM map[string]uint64

// OOMKills implements stats.OOMCounter.
func (o OOM) OOMKills(path string) (uint64, error) { return o[path], nil }

var (
	_ stats.Cgroups    = (*Cgroups)(nil)
	_ stats.Layers     = Layers{}
	_ stats.Network    = Network{}
	_ stats.OOMCounter = OOM{}
)
