package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/cmd/cricketd/internal/admin"
	"github.com/cricket-cri/cricket/cmd/cricketd/internal/daemon"
	"github.com/cricket-cri/cricket/cmd/cricketd/internal/otlp"
	"github.com/cricket-cri/cricket/cri"
	"github.com/cricket-cri/cricket/cri/events"
	"github.com/cricket-cri/cricket/cri/streaming"
	"github.com/cricket-cri/cricket/network"
	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/image/sigpolicy"
	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
	"github.com/cricket-cri/cricket/pkg/sockets"
	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/nri"
)

const defaultConfigPath = "/etc/cricket/cricket.toml"

// gracePeriod bounds how long in-flight RPCs may run after SIGTERM.
const gracePeriod = 10 * time.Second

var errBadFlags = errors.New("bad flags")

type flags struct {
	config             string
	configDir          string
	root               string
	state              string
	listen             string
	registryConfigPath string
	shimBinary         string
	set                map[string]bool
	// verbosity is klog's -v, set from log.verbosity unless given.
	verbosity flag.Value
}

// parseFlags parses the flags of cmd (serve, config show, check): they all
// read the configuration the same way.
func parseFlags(cmd string, args []string) (*flags, error) {
	f, rest, err := parseFlagsArgs(cmd, args, nil)
	if err == nil && len(rest) > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", errBadFlags, rest)
	}
	return f, err
}

// parseFlagsArgs parses the configuration flags and those extra adds, and
// returns the arguments after them.
func parseFlagsArgs(cmd string, args []string, extra func(*flag.FlagSet)) (*flags, []string, error) {
	f := &flags{set: map[string]bool{}}
	fs := flag.NewFlagSet("cricketd "+cmd, flag.ContinueOnError)
	fs.StringVar(&f.config, "config", defaultConfigPath, "configuration file (a missing default file means built-in defaults)")
	fs.StringVar(&f.configDir, "config-dir", "", "directory of drop-in files (*.toml) merged over --config in name order (default: cricket.d beside --config)")
	fs.StringVar(&f.root, "root", "/var/lib/cricket", "persistent state directory (overrides root)")
	fs.StringVar(&f.state, "state", "/run/cricket", "volatile state directory (overrides state)")
	fs.StringVar(&f.listen, "listen", "/run/cricket/cricket.sock", "CRI unix socket (overrides grpc.listen)")
	fs.StringVar(&f.registryConfigPath, "registry-config-path", "/etc/cricket/certs.d", "hosts.toml directory (overrides image.registry_config_path)")
	fs.StringVar(&f.shimBinary, "shim-binary", "", "per-pod shim executable (default: "+shimBinaryName+" next to cricketd)")
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	for _, name := range []string{"v", "vmodule"} {
		fs.Var(klogFlags.Lookup(name).Value, name, klogFlags.Lookup(name).Usage)
	}
	f.verbosity = klogFlags.Lookup("v").Value
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errBadFlags, err)
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, fs.Args(), nil
}

// override applies the flags given on the command line over the files,
// and records them as the origin of their keys.
func (f *flags) override(cfg *config.Config, origins config.Origins) {
	set := func(name, key string, apply func()) {
		if f.set[name] {
			apply()
			origins[key] = "flag --" + name
		}
	}
	set("root", "root", func() { cfg.Root = f.root })
	set("state", "state", func() { cfg.State = f.state })
	set("listen", "grpc.listen", func() { cfg.GRPC.Listen = f.listen })
	set("registry-config-path", "image.registry_config_path", func() { cfg.Image.RegistryConfigPath = f.registryConfigPath })
	set("v", "log.verbosity", func() {
		if v, err := strconv.Atoi(f.verbosity.String()); err == nil {
			cfg.Log.Verbosity = v
		}
	})
}

// files are the configuration files the flags name.
func (f *flags) files() config.Files {
	return config.Files{Main: f.config, MainOptional: !f.set["config"], DropInDir: f.configDir}
}

// load reads the configuration files with the flags over them.
func (f *flags) load() (*config.Config, config.Origins, error) {
	return config.Load(f.files(), f.override)
}

// setVerbosity makes klog log at cfg's verbosity.
func (f *flags) setVerbosity(cfg *config.Config) error {
	return f.verbosity.Set(strconv.Itoa(cfg.Log.Verbosity))
}

func serve(args []string) int {
	// SIGHUP reloads the configuration. It is caught before anything
	// else, so that no SIGHUP ever ends the daemon: one that comes during
	// start-up waits for the serve loop.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	f, err := parseFlags("serve", args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cricketd:", err)
		return exitConfig
	}
	cfg, _, err := f.load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cricketd: %v\n", err)
		return exitConfig
	}
	if err := f.setVerbosity(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "cricketd: log.verbosity: %v\n", err)
		return exitConfig
	}
	shimBin, err := findShim(f.shimBinary)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cricketd: %v\n", err)
		return exitConfig
	}
	if err := shimclient.DropBinaryCache(shimBin); err != nil {
		klog.V(2).InfoS("could not drop the shim binary's page cache; shims may show more RSS", "err", err)
	}
	if err := (&server{cfg: cfg, flags: f, hup: hup, shimBinary: shimBin}).run(); err != nil {
		klog.ErrorS(err, "cricketd stopped")
		klog.Flush()
		return exitCode(err)
	}
	klog.Flush()
	return exitOK
}

// imageOptions are the image service's options of cfg.
func imageOptions(cfg *config.Config, policy *sigpolicy.Policy) image.Options {
	return image.Options{
		SignaturePolicy:        policy,
		Root:                   cfg.Root,
		RegistryConfigPath:     cfg.Image.RegistryConfigPath,
		MaxConcurrentDownloads: cfg.Image.MaxConcurrentDownloads,
		ProgressTimeout:        cfg.Image.PullProgressTimeout.Duration,
		PinnedImages:           cfg.Image.PinnedImages,
		DockerConfigPath:       cfg.Image.DockerConfig,
	}
}

// server holds what serve wires together.
type server struct {
	cfg   *config.Config
	flags *flags
	// hup receives SIGHUP: reload the configuration.
	hup chan os.Signal
	// reloader applies a new configuration (SIGHUP); see reload.go.
	reloader *daemon.Reloader
	// certs are the streaming server's TLS certificates; nil without TLS.
	certs *streaming.Certificates
	// shimBinary is the per-pod shim executable (findShim).
	shimBinary string
	locks      []*os.File
	streaming  *streaming.Server
	events     *events.Broker
	// nri serves NRI plugins; nil when NRI is disabled.
	nri *nri.NRI
	// pods are the pod and container services.
	pods *daemon.Services
	// images is the image service; admin serves imports into it.
	images *image.Service
	admin  *admin.Server
	// metrics is the Prometheus endpoint; nil when none is configured.
	// metricsCfg is what it serves; both change on reload.
	metricsMu  sync.Mutex
	metrics    *metrics.Server
	metricsCfg config.Metrics
	// tracer exports spans; nil when tracing is off.
	tracer *otlp.Provider
}

func (d *server) run() error {
	defer d.unlock()
	if err := d.prepareDirs(); err != nil {
		return err
	}
	tracer, err := otlp.New(context.Background(), d.cfg.Tracing, otlp.Options{Version: version()})
	if err != nil {
		return err
	}
	d.tracer = tracer
	defer shutdownTracing(tracer)
	svc, err := d.wire()
	if err != nil {
		return err
	}
	if d.nri != nil {
		// Plugins are told the runtime goes away and the socket is removed.
		defer d.nri.Stop()
	}
	defer d.startLoops()()
	d.streaming.Start()
	defer d.stopStreaming()
	klog.InfoS("streaming server listening", "address", d.streaming.Addr())
	if err := d.serveMetrics(); err != nil {
		return err
	}
	defer d.stopMetrics()
	if err := d.serveAdmin(); err != nil {
		return err
	}
	defer d.stopAdmin()
	srv := grpc.NewServer(cri.ServerOptions(d.cfg.GRPC.MaxRecvMessageSize, d.cfg.GRPC.MaxSendMessageSize, tracer.ServerOptions()...)...)
	svc.Register(srv)
	l, err := sockets.Listen(d.cfg.GRPC.Listen, 0, 0)
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	klog.InfoS("cricketd serving CRI", "version", version(), "socket", d.cfg.GRPC.Listen, "root", d.cfg.Root, "state", d.cfg.State,
		"tracingEndpoint", d.cfg.Tracing.Endpoint)
	ctx := klog.NewContext(context.Background(), klog.Background())
	for {
		select {
		case sig := <-stop:
			klog.InfoS("stopping: running containers are left alone", "signal", sig.String())
			// Open event streams would hold GracefulStop for the whole grace
			// period: end them first.
			d.events.Close()
			return gracefulStop(srv, served)
		case err := <-served:
			return fmt.Errorf("serve %s: %w", d.cfg.GRPC.Listen, err)
		case <-d.hup:
			klog.InfoS("SIGHUP: reloading the configuration")
			// Errors are logged by Reload; the daemon runs on.
			_ = d.reloader.Reload(ctx)
		}
	}
}

// loadSignaturePolicy reads [image.policy] signature_policy; none means
// every image is accepted. A policy that does not load stops the start: a
// node that was meant to check signatures must not run without.
func loadSignaturePolicy(path string) (*sigpolicy.Policy, error) {
	if path == "" {
		return nil, nil
	}
	p, err := image.LoadSignaturePolicy(path)
	if err != nil {
		return nil, fmt.Errorf("image.policy.signature_policy: %w", err)
	}
	klog.InfoS("image signature policy loaded", "path", path, "scopes", len(p.Docker))
	return p, nil
}

// shutdownTracing sends the spans still batched, bounded in time: a
// collector that is down must not hold the daemon's exit.
func shutdownTracing(p *otlp.Provider) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		klog.ErrorS(err, "flush tracing spans")
	}
}

// gracefulStop lets in-flight RPCs finish for a bounded time. Containers and
// their shims are not touched: they keep running without the daemon.
func gracefulStop(srv *grpc.Server, served <-chan error) error {
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(gracePeriod):
		klog.InfoS("grace period over, closing remaining connections", "gracePeriod", gracePeriod)
		srv.Stop()
	}
	<-served
	return nil
}

// startLoops runs the pod services' background loops (daemon.Services.Run)
// until the returned stop is called; stop waits for them to end.
func (d *server) startLoops() (stop func()) {
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.pods.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// serveMetrics starts the Prometheus endpoint when one is configured;
// stopMetrics ends it.
func (d *server) serveMetrics() error {
	return d.setMetrics(d.cfg.Metrics)
}

// setMetrics serves the Prometheus endpoint as m says, moving or ending
// the one that runs. On a new address the new listener is opened before
// the old one closes, so a failure leaves the old endpoint serving.
func (d *server) setMetrics(m config.Metrics) error {
	d.metricsMu.Lock()
	defer d.metricsMu.Unlock()
	if d.metrics != nil && m == d.metricsCfg {
		return nil
	}
	old := d.metrics
	if old != nil && m.Address == d.metricsCfg.Address {
		// The same address with other handlers: free it first.
		stopMetricsServer(old)
		old, d.metrics = nil, nil
	}
	var srv *metrics.Server
	if m.Address != "" {
		var err error
		if srv, err = metrics.Listen(m.Address, m.Pprof); err != nil {
			return err
		}
		go func() {
			if err := srv.Serve(); err != nil {
				klog.ErrorS(err, "metrics endpoint stopped")
			}
		}()
		klog.InfoS("metrics endpoint listening", "address", srv.Addr(), "pprof", m.Pprof)
	}
	if old != nil {
		stopMetricsServer(old)
	}
	d.metrics, d.metricsCfg = srv, m
	return nil
}

func (d *server) stopMetrics() {
	d.metricsMu.Lock()
	defer d.metricsMu.Unlock()
	if d.metrics != nil {
		stopMetricsServer(d.metrics)
		d.metrics = nil
	}
}

func stopMetricsServer(srv *metrics.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		klog.ErrorS(err, "stop metrics endpoint", "address", srv.Addr())
	}
}

func (d *server) stopStreaming() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.streaming.Stop(ctx); err != nil {
		klog.ErrorS(err, "stop streaming server")
	}
}

// serveAdmin starts the administration endpoint (image imports).
func (d *server) serveAdmin() error {
	l, err := sockets.Listen(admin.Socket(d.cfg.State), 0, 0)
	if err != nil {
		return err
	}
	d.admin = admin.Serve(l, d.images)
	klog.InfoS("admin endpoint listening", "socket", admin.Socket(d.cfg.State))
	return nil
}

func (d *server) stopAdmin() {
	ctx, cancel := context.WithTimeout(context.Background(), gracePeriod)
	defer cancel()
	if err := d.admin.Stop(ctx); err != nil {
		klog.ErrorS(err, "stop admin endpoint")
	}
	_ = os.Remove(admin.Socket(d.cfg.State))
}

func (d *server) prepareDirs() error {
	if err := os.MkdirAll(d.cfg.Root, 0o700); err != nil {
		return fmt.Errorf("create root dir %s: %w", d.cfg.Root, err)
	}
	if err := os.MkdirAll(d.cfg.State, 0o711); err != nil {
		return fmt.Errorf("create state dir %s: %w", d.cfg.State, err)
	}
	for _, dir := range []string{d.cfg.Root, d.cfg.State} {
		lock, err := sockets.Lock(filepath.Join(dir, "cricketd.lock"))
		if err != nil {
			return fmt.Errorf("another cricketd uses %s: %w", dir, err)
		}
		d.locks = append(d.locks, lock)
	}
	return nil
}

func (d *server) unlock() {
	for _, l := range d.locks {
		l.Close()
	}
}

// wire builds the domain services and the CRI adapter over them.
func (d *server) wire() (*cri.Service, error) {
	ctx := klog.NewContext(context.Background(), klog.Background())
	meta, err := store.Open(filepath.Join(d.cfg.Root, "meta"))
	if err != nil {
		return nil, err
	}
	netMgr, err := network.New(network.Options{
		ConfDir:       d.cfg.Network.ConfDir,
		BinDirs:       d.cfg.Network.BinDirs,
		DataDir:       filepath.Join(d.cfg.Root, "cni"),
		DefaultSubnet: d.cfg.Network.DefaultPodSubnet,
		Store:         meta,
	})
	if err != nil {
		return nil, err
	}
	policy, err := loadSignaturePolicy(d.cfg.Image.Policy.SignaturePolicy)
	if err != nil {
		return nil, err
	}
	imgs, err := image.New(ctx, imageOptions(d.cfg, policy))
	if err != nil {
		return nil, err
	}
	d.images = imgs
	handlers, err := runtime.NewRegistry(handlerBinaries(d.cfg))
	if err != nil {
		return nil, err
	}
	d.events = events.New(events.Options{})
	pods, err := daemon.New(ctx, daemon.Options{
		State:                              d.cfg.State,
		Root:                               d.cfg.Root,
		Store:                              meta,
		Images:                             imgs,
		Handlers:                           handlers,
		DefaultHandler:                     d.cfg.Runtime.DefaultHandler,
		CgroupDriver:                       d.cfg.Runtime.CgroupDriver,
		Network:                            daemon.CNINetwork{CNI: netMgr},
		Events:                             d.events,
		NRI:                                nriConfig(d.cfg),
		CDISpecDirs:                        d.cfg.Runtime.CDISpecDirs,
		ShimBinary:                         d.shimBinary,
		AbsentMountSourcesToReject:         d.cfg.Runtime.AbsentMountSourcesToReject,
		DeviceOwnershipFromSecurityContext: d.cfg.Runtime.DeviceOwnershipFromSecurityContext,
		HandlerPlatforms:                   handlerPlatforms(d.cfg),
		AppArmorDefaultProfile:             d.cfg.Runtime.AppArmorDefaultProfile,
	})
	if err != nil {
		return nil, err
	}
	d.nri, d.pods = pods.NRI, pods
	d.events.SetStatuses(cri.EventStatuses(pods.Pods, pods.Containers))
	ready := sandbox.StateReady
	if err := metrics.RegisterShimCount(func() float64 {
		// Every ready pod has its shim running.
		return float64(len(pods.Pods.List(sandbox.Filter{State: &ready})))
	}); err != nil {
		return nil, err
	}
	gcNetwork(ctx, netMgr, pods.Pods)
	collector, err := newStatsCollector(d.cfg.Runtime.CgroupDriver, imgs)
	if err != nil {
		return nil, err
	}
	if d.certs, err = loadStreamingCerts(d.cfg.Streaming); err != nil {
		return nil, err
	}
	if d.streaming, err = newStreamingServer(d.cfg, pods, d.certs); err != nil {
		return nil, err
	}
	criCfg := criConfig(ctx, d.cfg, pods.UserNamespaces)
	criCfg.Security = cri.Security{
		AppArmor: pods.AppArmor.Enabled(), AppArmorDefaultProfile: pods.AppArmor.DefaultProfile(),
		SELinux: pods.SELinux.Enabled(),
	}
	svc := cri.New(criCfg, cri.Deps{
		Network:    netMgr,
		Images:     imgs,
		Pods:       pods.Pods,
		Containers: pods.Containers,
		Streaming:  d.streaming,
		Stats:      collector,
		Events:     d.events,
	})
	d.reloader = d.newReloader(reloadTargets{images: imgs, network: netMgr, pods: pods, cri: svc})
	return svc, nil
}

// gcNetwork releases what CNI still holds for pods that no longer exist
// (a crash between ADD and the pod record, or during removal). Failures
// are logged: start-up never stops for them.
func gcNetwork(ctx context.Context, netMgr *network.CNI, pods *sandbox.Service) {
	live := map[string]bool{}
	for _, sb := range pods.List(sandbox.Filter{}) {
		live[sb.ID] = true
	}
	if err := netMgr.GC(ctx, live); err != nil {
		klog.ErrorS(err, "CNI garbage collection")
	}
}

func newStatsCollector(driver string, imgs *image.Service) (*stats.Collector, error) {
	cg, err := cgroups.New(cgroups.Config{Driver: cgroups.Driver(driver)})
	if err != nil {
		return nil, fmt.Errorf("cgroups for stats: %w", err)
	}
	oom, err := stats.NewCgroupOOM(cg, "")
	if err != nil {
		return nil, fmt.Errorf("cgroups for stats: %w", err)
	}
	return stats.New(stats.Options{Cgroups: cg, Layers: imgs.Snapshots(), Network: stats.NetnsCounters{}, OOM: oom})
}

func newStreamingServer(cfg *config.Config, pods *daemon.Services, certs *streaming.Certificates) (*streaming.Server, error) {
	lookup := streaming.Services{Containers: pods.Containers, Pods: pods.Pods, LookPath: container.FSLookPath(oci.RootFS)}
	sc := streaming.Config{
		Address:     cfg.Streaming.Address,
		Port:        cfg.Streaming.Port,
		IdleTimeout: cfg.Streaming.IdleTimeout.Duration,
	}
	if certs != nil {
		sc.TLS = certs.Config()
	}
	return streaming.NewServer(sc, streaming.NewRuntime(lookup, lookup))
}

// loadStreamingCerts reads the streaming server's certificates; nil
// without TLS.
func loadStreamingCerts(s config.Streaming) (*streaming.Certificates, error) {
	if !s.TLSEnabled() {
		return nil, nil
	}
	return streaming.LoadCertificates(streamingTLSFiles(s))
}

func streamingTLSFiles(s config.Streaming) streaming.TLSFiles {
	return streaming.TLSFiles{Cert: s.TLSCertFile, Key: s.TLSKeyFile, CA: s.TLSCAFile}
}

// handlerBinaries maps each configured handler name to its binary, or to
// runtime.KindBuiltin for the built-in executor, as runtime.NewRegistry wants.
func handlerBinaries(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for name, h := range cfg.Runtime.Handlers {
		if h.Type == config.HandlerRuncCLI {
			out[name] = h.Path
			continue
		}
		out[name] = runtime.KindBuiltin
	}
	return out
}

// criConfig extracts what the CRI adapter reports about the configuration;
// userns reports each handler's user namespace support.
func criConfig(ctx context.Context, cfg *config.Config, userns func(context.Context, string) bool) cri.Config {
	handler := func(name string) cri.Handler {
		h := runtime.Handler{Name: name, Kind: runtime.KindBuiltin}
		if c := cfg.Runtime.Handlers[name]; c.Type == config.HandlerRuncCLI {
			h = runtime.Handler{Name: name, Kind: runtime.KindRuncCLI, Path: c.Path}
		}
		return cri.Handler{
			Name:                    name,
			RecursiveReadOnlyMounts: runtime.SupportsRecursiveReadOnly(ctx, h),
			UserNamespaces:          userns(ctx, name),
			Platform:                cfg.Runtime.Handlers[name].Platform,
		}
	}
	handlers := []cri.Handler{handler(cfg.Runtime.DefaultHandler)}
	for _, name := range sortedHandlers(cfg) {
		if name != cfg.Runtime.DefaultHandler {
			handlers = append(handlers, handler(name))
		}
	}
	return cri.Config{
		RuntimeVersion: version(),
		CgroupDriver:   cfg.Runtime.CgroupDriver,
		Handlers:       handlers,
	}
}

// nriConfig is the NRI part of cfg; nil when NRI is disabled.
func nriConfig(cfg *config.Config) *nri.Config {
	if !cfg.NRI.Enable {
		return nil
	}
	return &nri.Config{
		SocketPath:          cfg.NRI.SocketPath,
		PluginPath:          cfg.NRI.PluginPath,
		PluginConfigPath:    cfg.NRI.PluginConfigPath,
		RegistrationTimeout: cfg.NRI.RegistrationTimeout.Duration,
		RequestTimeout:      cfg.NRI.RequestTimeout.Duration,
		Version:             version(),
	}
}
