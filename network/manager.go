// Package network wires pod networking through CNI plugins.
//
// This file holds the part the daemon needs from its first day: finding a
// usable CNI configuration (re-read on every call, so a config dropped into
// the conf dir is picked up without a restart), reporting readiness, and the
// pod CIDR the kubelet hands over with UpdateRuntimeConfig.
package network

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/store"
)

// ErrNoConfig is returned when the conf dir holds no CNI configuration.
var ErrNoConfig = errors.New("no CNI network configuration found")

const (
	stateBucket  = "network"
	stateID      = "runtime-config"
	stateVersion = 1
)

// Options configures a Manager.
type Options struct {
	// ConfDir is searched for *.conflist, *.conf and *.json files.
	ConfDir string
	// BinDirs are searched for plugin binaries.
	BinDirs []string
	// Store persists the pod CIDR across restarts; nil keeps it in memory.
	Store *store.Store
}

// Manager owns the node's CNI configuration.
type Manager struct {
	opts Options

	mu      sync.Mutex
	podCIDR string
}

type persisted struct {
	PodCIDR string `json:"podCIDR"`
}

// New returns a Manager and reloads the pod CIDR a previous run persisted.
func New(opts Options) (*Manager, error) {
	m := &Manager{opts: opts}
	if opts.Store != nil {
		var p persisted
		_, err := opts.Store.Get(stateBucket, stateID, &p)
		switch {
		case err == nil:
			m.podCIDR = p.PodCIDR
		case errdefs.IsNotFound(err):
		default:
			return nil, fmt.Errorf("load network state: %w", err)
		}
	}
	return m, nil
}

// LoadConfig returns the first CNI configuration of the conf dir in file
// name order, as the kubelet's other runtimes do, and the file it came from.
func (m *Manager) LoadConfig() (*libcni.NetworkConfigList, string, error) {
	files, err := libcni.ConfFiles(m.opts.ConfDir, []string{".conflist", ".conf", ".json"})
	if err != nil {
		return nil, "", fmt.Errorf("read CNI conf dir %s: %w", m.opts.ConfDir, err)
	}
	sort.Strings(files)
	var errs []error
	for _, f := range files {
		list, err := libcni.NetworkConfFromFile(f)
		if err != nil {
			// The kubelet's other runtimes skip unreadable files too; keep
			// the reason for the status message.
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		return list, f, nil
	}
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("%w in %s: %w", ErrNoConfig, m.opts.ConfDir, errors.Join(errs...))
	}
	return nil, "", fmt.Errorf("%w in %s", ErrNoConfig, m.opts.ConfDir)
}

// Status returns nil when a CNI configuration is loaded and every plugin it
// names is installed, otherwise the reason it is not.
func (m *Manager) Status() error {
	list, file, err := m.LoadConfig()
	if err != nil {
		return err
	}
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, m.opts.BinDirs); err != nil {
			return fmt.Errorf("network %q (%s): plugin %q not found in %v", list.Name, file, p.Network.Type, m.opts.BinDirs)
		}
	}
	return nil
}

// SetPodCIDR records the node's pod CIDR; an empty value clears it.
func (m *Manager) SetPodCIDR(cidr string) error {
	if cidr != "" {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			return fmt.Errorf("pod CIDR %q: %w", cidr, errdefs.ErrInvalidArgument)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opts.Store != nil {
		if err := m.opts.Store.Put(stateBucket, stateID, stateVersion, persisted{PodCIDR: cidr}); err != nil {
			return fmt.Errorf("persist pod CIDR: %w", err)
		}
	}
	m.podCIDR = cidr
	return nil
}

// PodCIDR returns the pod CIDR last set by SetPodCIDR.
func (m *Manager) PodCIDR() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.podCIDR
}
