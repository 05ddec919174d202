// Package nri relays the life-cycle of Cricket's pods and containers to
// Node Resource Interface plugins (github.com/containerd/nri) and applies
// the adjustments they ask for to a container's OCI spec.
//
// An *NRI satisfies both sandbox.NRI and container.NRI. It serves plugins
// only after Start; until then, and when NRI is disabled, its hooks do
// nothing.
package nri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// Config says where plugins are found and how long they may take.
type Config struct {
	// SocketPath is the socket external plugins connect to.
	SocketPath string
	// PluginPath holds plugins cricketd starts itself; PluginConfigPath
	// their configuration.
	PluginPath       string
	PluginConfigPath string
	// RegistrationTimeout and RequestTimeout bound a plugin's
	// registration and each of its answers; zero keeps NRI's defaults.
	RegistrationTimeout time.Duration
	RequestTimeout      time.Duration
	// Version is the runtime version plugins are told.
	Version string
	// PluginError turns the error of a plugin call, a ttrpc status, into
	// the error the pod and container services report; nil keeps it as it
	// is. The daemon, which owns the gRPC mapping, sets it so that a
	// plugin's refusal does not reach the kubelet as Unknown.
	PluginError func(error) error
}

// Pods lists and looks up the pods plugins are told of (*sandbox.Service).
type Pods interface {
	Get(id string) (*sandbox.Sandbox, error)
	List(f sandbox.Filter) []*sandbox.Sandbox
}

// Containers lists the containers plugins are told of (*container.Service).
type Containers interface {
	List(f container.Filter) []*container.Container
}

// NRI is the runtime side of NRI.
type NRI struct {
	cfg Config

	mu         sync.RWMutex
	adaptation *adaptation.Adaptation
	pods       Pods
	containers Containers
}

// New returns an NRI that does nothing until Start.
func New(cfg Config) *NRI {
	return &NRI{cfg: cfg}
}

// Start serves plugins on the socket, telling each one that connects of
// the pods and containers that exist.
func (n *NRI) Start(pods Pods, containers Containers) error {
	n.mu.Lock()
	n.pods, n.containers = pods, containers
	cfg := n.cfg
	n.mu.Unlock()
	return n.start(cfg)
}

func (n *NRI) start(cfg Config) error {
	if cfg.RegistrationTimeout > 0 {
		adaptation.SetPluginRegistrationTimeout(cfg.RegistrationTimeout)
	}
	if cfg.RequestTimeout > 0 {
		adaptation.SetPluginRequestTimeout(cfg.RequestTimeout)
	}
	opts := []adaptation.Option{adaptation.WithSocketPath(cfg.SocketPath)}
	if cfg.PluginPath != "" {
		opts = append(opts, adaptation.WithPluginPath(cfg.PluginPath))
	}
	if cfg.PluginConfigPath != "" {
		opts = append(opts, adaptation.WithPluginConfigPath(cfg.PluginConfigPath))
	}
	a, err := adaptation.New("cricket", cfg.Version, n.synchronize, n.update, opts...)
	if err != nil {
		return fmt.Errorf("set up NRI: %w", err)
	}
	n.mu.Lock()
	n.adaptation = a
	n.mu.Unlock()
	if err := a.Start(); err != nil {
		return fmt.Errorf("start NRI on %s: %w", cfg.SocketPath, err)
	}
	return nil
}

// Reconfigure applies new plugin directories and timeouts (the socket,
// the version and PluginError stay): NRI restarts, so the plugins it
// starts itself are started again from the new directories, and external
// plugins are disconnected and must connect again. Each plugin is
// synchronized with the pods and containers that exist, as at start-up.
// Pods and containers created meanwhile are not shown to plugins.
func (n *NRI) Reconfigure(cfg Config) error {
	cfg.SocketPath, cfg.Version, cfg.PluginError = n.cfg.SocketPath, n.cfg.Version, n.cfg.PluginError
	n.Stop()
	return n.start(cfg)
}

// Stop disconnects every plugin, closes the socket and removes its file,
// which the NRI library leaves behind.
func (n *NRI) Stop() {
	a := n.get()
	if a == nil {
		return
	}
	a.Stop()
	if err := os.Remove(n.cfg.SocketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		klog.ErrorS(err, "remove NRI socket", "path", n.cfg.SocketPath)
	}
}

func (n *NRI) get() *adaptation.Adaptation {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.adaptation
}

// synchronize hands a newly connected plugin the pods and containers that
// exist. Creations hold BlockSync, so none is half-way meanwhile: each one
// is either in this snapshot or waits for the plugin's registration and
// then reaches it as an event.
func (n *NRI) synchronize(ctx context.Context, cb adaptation.SyncCB) error {
	n.mu.RLock()
	pods, ctrs := n.pods, n.containers
	n.mu.RUnlock()
	var nriPods []*adaptation.PodSandbox
	for _, sb := range pods.List(sandbox.Filter{}) {
		nriPods = append(nriPods, PodSandbox(sb))
	}
	var nriCtrs []*adaptation.Container
	for _, c := range ctrs.List(container.Filter{}) {
		nriCtrs = append(nriCtrs, Container(c, nil))
	}
	restore := n.syncTimeout()
	updates, err := cb(ctx, nriPods, nriCtrs)
	restore()
	if err != nil {
		return err
	}
	return refuseUpdates(updates)
}

// syncTimeout gives a connecting plugin's Synchronize the registration
// timeout, when that is the longer one, and returns what restores the
// request timeout. A plugin is not registered until it is synchronized,
// and its Synchronize grows with the node's pods and containers; bounded
// by the per-request timeout (2 s by default), a slow one was dropped,
// and learned of no container created meanwhile or later (critest's
// late-joining plugin specs hold it open 2 s). The NRI library has one
// process-wide request timeout, so it is raised while the sync runs: the
// accept loop synchronizes one plugin at a time, creations wait for it
// (BlockSync), and the other events of that window get the longer bound.
func (n *NRI) syncTimeout() (restore func()) {
	request, registration := n.cfg.RequestTimeout, n.cfg.RegistrationTimeout
	if request <= 0 {
		request = adaptation.DefaultPluginRequestTimeout
	}
	if registration <= 0 {
		registration = adaptation.DefaultPluginRegistrationTimeout
	}
	if registration <= request {
		return func() {}
	}
	adaptation.SetPluginRequestTimeout(registration)
	return func() { adaptation.SetPluginRequestTimeout(request) }
}

// update answers a plugin's unsolicited container updates: Cricket cannot
// apply them yet, so each one fails.
func (n *NRI) update(_ context.Context, updates []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
	return updates, nil
}

// refuseUpdates fails on updates to other containers, which Cricket cannot
// apply; a plugin that asks for none costs nothing.
func refuseUpdates(updates []*adaptation.ContainerUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	return fmt.Errorf("NRI plugins asked to update %d containers, which is not supported: %w", len(updates), errdefs.ErrFailedPrecondition)
}

// BlockSync holds back the synchronization of connecting plugins.
func (n *NRI) BlockSync() func() {
	a := n.get()
	if a == nil {
		return func() {}
	}
	return a.BlockPluginSync().Unblock
}

// RunPodSandbox tells plugins of a new pod.
func (n *NRI) RunPodSandbox(ctx context.Context, sb *sandbox.Sandbox) error {
	a := n.get()
	if a == nil {
		return nil
	}
	return n.pluginError(a.RunPodSandbox(ctx, &adaptation.RunPodSandboxRequest{Pod: PodSandbox(sb)}))
}

// StopPodSandbox tells plugins a pod stopped.
func (n *NRI) StopPodSandbox(ctx context.Context, sb *sandbox.Sandbox) error {
	a := n.get()
	if a == nil {
		return nil
	}
	return n.pluginError(a.StopPodSandbox(ctx, &adaptation.StopPodSandboxRequest{Pod: PodSandbox(sb)}))
}

// RemovePodSandbox tells plugins a pod is gone.
func (n *NRI) RemovePodSandbox(ctx context.Context, sb *sandbox.Sandbox) error {
	a := n.get()
	if a == nil {
		return nil
	}
	return n.pluginError(a.RemovePodSandbox(ctx, &adaptation.RemovePodSandboxRequest{Pod: PodSandbox(sb)}))
}

// CreateContainer asks plugins for adjustments to spec and applies them.
func (n *NRI) CreateContainer(ctx context.Context, c *container.Container, spec *specs.Spec) error {
	a := n.get()
	if a == nil {
		return nil
	}
	rsp, err := a.CreateContainer(ctx, &adaptation.CreateContainerRequest{Pod: n.pod(c.PodID), Container: Container(c, spec)})
	if err != nil {
		return n.pluginError(err)
	}
	if len(rsp.GetEvict()) > 0 {
		return fmt.Errorf("NRI plugins asked to evict %d containers, which is not supported: %w", len(rsp.GetEvict()), errdefs.ErrFailedPrecondition)
	}
	if err := refuseUpdates(rsp.GetUpdate()); err != nil {
		return err
	}
	if err := Adjust(spec, rsp.GetAdjust()); err != nil {
		return fmt.Errorf("apply NRI adjustment: %w", err)
	}
	return nil
}

// PostCreateContainer tells plugins a container was created.
func (n *NRI) PostCreateContainer(ctx context.Context, c *container.Container) error {
	a := n.get()
	if a == nil {
		return nil
	}
	return n.pluginError(a.PostCreateContainer(ctx, &adaptation.PostCreateContainerRequest{Pod: n.pod(c.PodID), Container: Container(c, nil)}))
}

// StartContainer tells plugins a container is about to start.
func (n *NRI) StartContainer(ctx context.Context, c *container.Container) error {
	a := n.get()
	if a == nil {
		return nil
	}
	return n.pluginError(a.StartContainer(ctx, &adaptation.StartContainerRequest{Pod: n.pod(c.PodID), Container: Container(c, nil)}))
}

// PostStartContainer tells plugins a container runs.
func (n *NRI) PostStartContainer(ctx context.Context, c *container.Container) error {
	a := n.get()
	if a == nil {
		return nil
	}
	return n.pluginError(a.PostStartContainer(ctx, &adaptation.PostStartContainerRequest{Pod: n.pod(c.PodID), Container: Container(c, nil)}))
}

// StopContainer tells plugins a container exited. Updates they ask for in
// return are logged and dropped.
func (n *NRI) StopContainer(ctx context.Context, c *container.Container) error {
	a := n.get()
	if a == nil {
		return nil
	}
	rsp, err := a.StopContainer(ctx, &adaptation.StopContainerRequest{Pod: n.pod(c.PodID), Container: Container(c, nil)})
	if err != nil {
		return n.pluginError(err)
	}
	if len(rsp.GetUpdate()) > 0 {
		klog.FromContext(ctx).Info("ignoring container updates NRI plugins asked for on a stop", "containerID", c.ID, "updates", len(rsp.GetUpdate()))
	}
	return nil
}

// RemoveContainer tells plugins a container is gone.
func (n *NRI) RemoveContainer(ctx context.Context, c *container.Container) error {
	a := n.get()
	if a == nil {
		return nil
	}
	return n.pluginError(a.RemoveContainer(ctx, &adaptation.RemoveContainerRequest{Pod: n.pod(c.PodID), Container: Container(c, nil)}))
}

// pod is the NRI view of a container's pod; only its ID when the pod is
// gone.
func (n *NRI) pod(id string) *adaptation.PodSandbox {
	n.mu.RLock()
	pods := n.pods
	n.mu.RUnlock()
	if pods != nil {
		if sb, err := pods.Get(id); err == nil {
			return PodSandbox(sb)
		}
	}
	return &adaptation.PodSandbox{Id: id}
}

// pluginError converts the error of a plugin call (Config.PluginError).
func (n *NRI) pluginError(err error) error {
	if err == nil || n.cfg.PluginError == nil {
		return err
	}
	return n.cfg.PluginError(err)
}
