// Package network wires pod networking through CNI plugins: it finds the
// network configuration (re-read on every use, so a config dropped into the
// conf dir is picked up without a restart; an embedded default when there is
// none), attaches pods to it in their pinned network namespace, detaches
// them, collects what belongs to no pod, and reports readiness.
//
// CNI plugins enter the pod's namespace themselves from its path: the daemon
// never changes namespace.
package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/store"
)

// ErrNoConfig is returned when the conf dir holds no CNI configuration and
// the embedded default is disabled.
var ErrNoConfig = errors.New("no CNI network configuration found")

const (
	stateBucket  = "network"
	stateID      = "runtime-config"
	stateVersion = 1
)

// Options configures a CNI.
type Options struct {
	// ConfDir is searched for *.conflist, *.conf and *.json files.
	ConfDir string
	// BinDirs are searched for plugin binaries.
	BinDirs []string
	// DataDir holds the CNI result cache and the default network's IPAM
	// allocations (normally <root>/cni).
	DataDir string
	// DefaultSubnet is the embedded default network's subnet when no pod
	// CIDR was set; empty disables the embedded default.
	DefaultSubnet string
	// Store persists the pod CIDR across restarts; nil keeps it in memory.
	Store *store.Store
	// Exec runs plugins; nil runs the real binaries. Tests inject fakes.
	Exec invoke.Exec
}

// CNI attaches pods to the pod network through CNI plugins (libcni) and
// owns the node's CNI configuration.
type CNI struct {
	opts Options
	// dirs are the conf and bin dirs in use, replaced by SetDirs.
	dirs atomic.Pointer[dirs]

	mu           sync.Mutex
	podCIDR      string
	loggedSource string
}

// dirs are where configurations and plugins are found, and libcni over
// those plugins.
type dirs struct {
	conf string
	bin  []string
	cni  *libcni.CNIConfig
}

type persisted struct {
	PodCIDR string `json:"podCIDR"`
}

// New returns a CNI and reloads the pod CIDR a previous run persisted.
func New(opts Options) (*CNI, error) {
	m := &CNI{opts: opts}
	m.SetDirs(opts.ConfDir, opts.BinDirs)
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

// SetDirs changes where configurations and plugins are found, from the
// next attach, detach or status on. Pods attached before keep their
// attachment; CNI's result cache, which a detach reads, does not move.
func (m *CNI) SetDirs(confDir string, binDirs []string) {
	cacheDir := ""
	if m.opts.DataDir != "" {
		cacheDir = filepath.Join(m.opts.DataDir, "cache")
	}
	bin := append([]string(nil), binDirs...)
	m.dirs.Store(&dirs{conf: confDir, bin: bin, cni: libcni.NewCNIConfigWithCacheDir(bin, cacheDir, m.opts.Exec)})
}

// plugins is libcni over the current bin dirs.
func (m *CNI) plugins() *libcni.CNIConfig { return m.dirs.Load().cni }

// LoadConfig returns the network pods are attached to: the first CNI
// configuration of the conf dir in file name order, as the kubelet's other
// runtimes do, else the embedded default; and where it came from.
func (m *CNI) LoadConfig() (*libcni.NetworkConfigList, string, error) {
	confDir := m.dirs.Load().conf
	files, err := libcni.ConfFiles(confDir, []string{".conflist", ".conf", ".json"})
	if err != nil {
		return nil, "", fmt.Errorf("read CNI conf dir %s: %w", confDir, err)
	}
	sort.Strings(files)
	var errs []error
	for _, f := range files {
		list, err := loadFile(f)
		if err != nil {
			// Skip unreadable files like the peers do; keep the reason.
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		m.logSource(f)
		return list, f, nil
	}
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("%w in %s: %w", ErrNoConfig, confDir, errors.Join(errs...))
	}
	if m.opts.DefaultSubnet == "" {
		return nil, "", fmt.Errorf("%w in %s", ErrNoConfig, confDir)
	}
	list, err := m.defaultConfig()
	if err != nil {
		return nil, "", err
	}
	m.logSource("embedded default")
	return list, "embedded default", nil
}

func loadFile(f string) (*libcni.NetworkConfigList, error) {
	if filepath.Ext(f) == ".conflist" {
		return libcni.NetworkConfFromFile(f)
	}
	raw, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	conf, err := libcni.NetworkPluginConfFromBytes(raw)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromConf(conf)
}

func (m *CNI) defaultConfig() (*libcni.NetworkConfigList, error) {
	subnet := m.PodCIDR()
	if subnet == "" {
		subnet = m.opts.DefaultSubnet
	}
	dataDir := ""
	if m.opts.DataDir != "" {
		dataDir = filepath.Join(m.opts.DataDir, "networks")
	}
	raw, err := DefaultConflist(subnet, dataDir)
	if err != nil {
		return nil, err
	}
	return libcni.NetworkConfFromBytes(raw)
}

// logSource says once per change which configuration pods get.
func (m *CNI) logSource(source string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loggedSource == source {
		return
	}
	m.loggedSource = source
	if source == "embedded default" {
		klog.InfoS("no CNI configuration in the conf dir: using the embedded default network", "confDir", m.dirs.Load().conf, "bridge", DefaultBridge)
		return
	}
	klog.InfoS("using CNI configuration", "file", source)
}

// Status returns nil when a CNI configuration is loaded and every plugin it
// names is installed, otherwise the reason it is not.
func (m *CNI) Status() error {
	list, source, err := m.LoadConfig()
	if err != nil {
		return err
	}
	bin := m.dirs.Load().bin
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, bin); err != nil {
			return fmt.Errorf("network %q (%s): plugin %q not found in %v", list.Name, source, p.Network.Type, bin)
		}
	}
	return nil
}

// SetPodCIDR records the node's pod CIDR; an empty value clears it.
func (m *CNI) SetPodCIDR(cidr string) error {
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
func (m *CNI) PodCIDR() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.podCIDR
}
