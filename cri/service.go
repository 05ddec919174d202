// Package cri is the CRI v1 gRPC adapter: it validates requests, calls the
// domain services and converts their results. It holds no runtime state of
// its own and is imported by nothing but the daemon's composition root.
package cri

import (
	"sync/atomic"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Handler describes one runtime handler for the Status RPC.
type Handler struct {
	Name                    string
	RecursiveReadOnlyMounts bool
	UserNamespaces          bool
	// Platform is what images for this handler are pulled for
	// (os/arch[/variant]); "" is the daemon's own.
	Platform string
}

// Config is what the adapter needs to know about the daemon's configuration.
type Config struct {
	// RuntimeVersion is the daemon's version, reported by Version.
	RuntimeVersion string
	// CgroupDriver is "cgroupfs" or "systemd".
	CgroupDriver string
	// Handlers are the configured runtime handlers, default first.
	Handlers []Handler
	// Security says how containers are confined on this host.
	Security Security
}

// Security is the host's Linux security modules as containers see them,
// reported in Status's verbose info (crictl info).
type Security struct {
	// AppArmor is true when containers are confined by AppArmor;
	// AppArmorDefaultProfile is the profile RuntimeDefault and no
	// request mean then.
	AppArmor               bool   `json:"apparmor"`
	AppArmorDefaultProfile string `json:"apparmorDefaultProfile"`
	// SELinux is true when containers get SELinux labels.
	SELinux bool `json:"selinux"`
}

// NetworkService is what the adapter needs from the network layer.
type NetworkService interface {
	// Status returns nil when pod networking is ready, or why it is not.
	Status() error
	// SetPodCIDR records the node's pod CIDR.
	SetPodCIDR(cidr string) error
}

// Deps are the domain services the adapter calls.
type Deps struct {
	Network NetworkService
	// Images is the image service (pkg/image.Service).
	Images ImageService
	// Pods and Containers run pods; while nil, their RPCs answer
	// Unimplemented.
	Pods       PodService
	Containers ContainerService
	// Streaming serves exec, attach and port-forward sessions
	// (cri/streaming.Server); while nil, their RPCs answer
	// Unimplemented.
	Streaming Streamer
	// Stats measures pods and containers (*stats.Collector) for the stats
	// and metrics RPCs; while it, Pods or Containers is nil, those
	// RPCs answer Unimplemented.
	Stats StatsService
	// Events is the container event broker (*events.Broker); while nil,
	// GetContainerEvents answers Unimplemented.
	Events EventSource
}

// Service implements runtimeapi.RuntimeServiceServer and
// runtimeapi.ImageServiceServer.
type Service struct {
	// The generated structs are embedded only because the generated code
	// requires it for forward compatibility: every RPC of cri-api v0.37 is
	// implemented by a method of Service (see unimplemented.go for the ones
	// still to be built), so their answers are never reached.
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	cfg  Config
	deps Deps
	// handlers are cfg.Handlers, replaced by SetHandlers.
	handlers atomic.Pointer[[]Handler]
}

// New returns the CRI adapter.
func New(cfg Config, deps Deps) *Service {
	s := &Service{cfg: cfg, deps: deps}
	s.SetHandlers(cfg.Handlers)
	return s
}

// SetHandlers replaces the runtime handlers the Status RPC reports
// (default first), after a configuration reload.
func (s *Service) SetHandlers(handlers []Handler) {
	h := append([]Handler(nil), handlers...)
	s.handlers.Store(&h)
}

// Register registers both CRI services of s on srv.
func (s *Service) Register(srv *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(srv, s)
	runtimeapi.RegisterImageServiceServer(srv, s)
}

var (
	_ runtimeapi.RuntimeServiceServer = (*Service)(nil)
	_ runtimeapi.ImageServiceServer   = (*Service)(nil)
)
