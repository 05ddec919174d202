package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/cricket-cri/cricket/pkg/apparmor"
)

var handlerName = regexp.MustCompile(`^[a-z0-9]([a-z0-9_.\-]{0,61}[a-z0-9])?$`)

type checker struct{ errs Errors }

func (c *checker) addf(path, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) absPath(path, v string, optional bool) {
	switch {
	case v == "" && optional:
	case v == "":
		c.addf(path, "must not be empty")
	case !filepath.IsAbs(v):
		c.addf(path, "%q is not an absolute path", v)
	case filepath.Clean(v) != v:
		c.addf(path, "%q is not a clean path (want %q)", v, filepath.Clean(v))
	}
}

func (c *checker) intRange(path string, v, lo, hi int) {
	if v < lo || v > hi {
		c.addf(path, "%d is out of range [%d, %d]", v, lo, hi)
	}
}

// Validate checks every value of cfg and returns all problems found.
func (cfg *Config) Validate() Errors {
	c := &checker{}
	if cfg.Version != Version {
		c.addf("version", "unsupported version %d (want %d)", cfg.Version, Version)
	}
	c.absPath("root", cfg.Root, false)
	c.absPath("state", cfg.State, false)
	c.absPath("grpc.listen", cfg.GRPC.Listen, false)
	c.intRange("grpc.max_recv_message_size", cfg.GRPC.MaxRecvMessageSize, 4096, 1<<30)
	c.intRange("grpc.max_send_message_size", cfg.GRPC.MaxSendMessageSize, 4096, 1<<30)
	cfg.Runtime.validate(c)
	c.absPath("image.registry_config_path", cfg.Image.RegistryConfigPath, true)
	c.absPath("image.docker_config", cfg.Image.DockerConfig, true)
	c.absPath("image.policy.signature_policy", cfg.Image.Policy.SignaturePolicy, true)
	c.intRange("image.max_concurrent_downloads", cfg.Image.MaxConcurrentDownloads, 1, 64)
	if cfg.Image.PullProgressTimeout.Duration <= 0 {
		c.addf("image.pull_progress_timeout", "must be positive")
	}
	for i, img := range cfg.Image.PinnedImages {
		if img == "" {
			c.addf(fmt.Sprintf("image.pinned_images[%d]", i), "must not be empty")
		}
	}
	c.absPath("network.cni_conf_dir", cfg.Network.ConfDir, false)
	if len(cfg.Network.BinDirs) == 0 {
		c.addf("network.cni_bin_dirs", "must list at least one directory")
	}
	for i, d := range cfg.Network.BinDirs {
		c.absPath(fmt.Sprintf("network.cni_bin_dirs[%d]", i), d, false)
	}
	if cfg.Network.DefaultPodSubnet != "" {
		if _, _, err := net.ParseCIDR(cfg.Network.DefaultPodSubnet); err != nil {
			c.addf("network.default_pod_subnet", "%q is not a CIDR", cfg.Network.DefaultPodSubnet)
		}
	}
	if net.ParseIP(cfg.Streaming.Address) == nil && cfg.Streaming.Address != "localhost" {
		c.addf("streaming.address", "%q is not an IP address", cfg.Streaming.Address)
	}
	c.intRange("streaming.port", cfg.Streaming.Port, 0, 65535)
	cfg.Streaming.validateTLS(c)
	c.intRange("log.verbosity", cfg.Log.Verbosity, 0, 10)
	if a := cfg.Metrics.Address; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			c.addf("metrics.address", "%q is not host:port", a)
		}
	} else if cfg.Metrics.Pprof {
		c.addf("metrics.pprof", "needs metrics.address")
	}
	if cfg.Streaming.IdleTimeout.Duration <= 0 {
		c.addf("streaming.idle_timeout", "must be positive")
	}
	cfg.NRI.validate(c)
	cfg.Tracing.validate(c)
	return c.errs
}

func (r *Runtime) validate(c *checker) {
	switch r.CgroupDriver {
	case CgroupDriverCgroupfs, CgroupDriverSystemd:
	default:
		c.addf("runtime.cgroup_driver", "%q is not one of cgroupfs, systemd", r.CgroupDriver)
	}
	if _, ok := r.Handlers[r.DefaultHandler]; !ok {
		c.addf("runtime.default_handler", "%q is not a configured handler", r.DefaultHandler)
	}
	if !apparmor.ValidName(r.AppArmorDefaultProfile) {
		c.addf("runtime.apparmor_default_profile", "%q is not a profile name Cricket can generate: letters, digits and _.:/+-, not \"unconfined\"", r.AppArmorDefaultProfile)
	}
	for i, d := range r.CDISpecDirs {
		c.absPath(fmt.Sprintf("runtime.cdi_spec_dirs[%d]", i), d, false)
	}
	for i, p := range r.AbsentMountSourcesToReject {
		c.absPath(fmt.Sprintf("runtime.absent_mount_sources_to_reject[%d]", i), p, false)
	}
	names := make([]string, 0, len(r.Handlers))
	for n := range r.Handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := r.Handlers[n]
		path := "runtime.handlers." + n
		if !handlerName.MatchString(n) {
			c.addf(path, "handler name %q must be lower-case letters, digits, '-', '_' or '.'", n)
		}
		switch h.Type {
		case HandlerBuiltin:
			if h.Path != "" {
				c.addf(path+".path", "a builtin handler takes no path")
			}
		case HandlerRuncCLI:
			c.absPath(path+".path", h.Path, false)
		default:
			c.addf(path+".type", "%q is not one of builtin, runc", h.Type)
		}
		c.absPath(path+".root", h.Root, true)
		if p := strings.Split(h.Platform, "/"); h.Platform != "" && (len(p) < 2 || len(p) > 3 || slices.Contains(p, "")) {
			c.addf(path+".platform", "%q is not os/arch[/variant]", h.Platform)
		}
	}
}

func (n *NRI) validate(c *checker) {
	c.absPath("nri.socket_path", n.SocketPath, !n.Enable)
	c.absPath("nri.plugin_path", n.PluginPath, true)
	c.absPath("nri.plugin_config_path", n.PluginConfigPath, true)
	if n.RegistrationTimeout.Duration <= 0 {
		c.addf("nri.registration_timeout", "must be positive")
	}
	if n.RequestTimeout.Duration <= 0 {
		c.addf("nri.request_timeout", "must be positive")
	}
}

func (t *Tracing) validate(c *checker) {
	if t.Endpoint != "" {
		if err := CheckTracingEndpoint(t.Endpoint); err != nil {
			c.addf("tracing.endpoint", "%v", err)
		}
	}
	if t.SamplingRatio < 0 || t.SamplingRatio > 1 {
		c.addf("tracing.sampling_ratio", "%g is out of range [0, 1]", t.SamplingRatio)
	}
	if t.ServiceName == "" {
		c.addf("tracing.service_name", "must not be empty")
	}
}

// CheckTracingEndpoint checks an OTLP endpoint: host:port, or an http:// or
// https:// URL with a host and port and no path.
func CheckTracingEndpoint(e string) error {
	hostport := e
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil {
			return fmt.Errorf("%q is not a URL: %w", e, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("%q: scheme must be http or https", e)
		}
		if u.Path != "" && u.Path != "/" {
			return fmt.Errorf("%q: an OTLP/gRPC endpoint has no path", e)
		}
		hostport = u.Host
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return fmt.Errorf("%q is not host:port", e)
	}
	return nil
}

func (s *Streaming) validateTLS(c *checker) {
	c.absPath("streaming.tls_cert_file", s.TLSCertFile, true)
	c.absPath("streaming.tls_key_file", s.TLSKeyFile, true)
	c.absPath("streaming.tls_ca_file", s.TLSCAFile, true)
	switch {
	case s.TLSCertFile != "" && s.TLSKeyFile == "":
		c.addf("streaming.tls_key_file", "must be set with tls_cert_file")
	case s.TLSCertFile == "" && s.TLSKeyFile != "":
		c.addf("streaming.tls_cert_file", "must be set with tls_key_file")
	}
	if s.TLSCAFile != "" && s.TLSCertFile == "" {
		c.addf("streaming.tls_ca_file", "needs tls_cert_file and tls_key_file")
	}
}
