// Package config defines cricketd's configuration: its TOML form, its
// built-in defaults and its validation, which reports every bad key and value
// at once with its path.
package config

import (
	"time"
)

// Version is the schema version of the configuration file.
const Version = 1

// Cgroup drivers.
const (
	CgroupDriverCgroupfs = "cgroupfs"
	CgroupDriverSystemd  = "systemd"
)

// Runtime handler types.
const (
	// HandlerBuiltin runs containers with runc's libcontainer inside the pod's shim.
	HandlerBuiltin = "builtin"
	// HandlerRuncCLI drives an external binary with runc's command line.
	HandlerRuncCLI = "runc"
)

// DefaultHandlerName is the name of the built-in runtime handler; the empty
// handler name of a RunPodSandbox request means this one too.
const DefaultHandlerName = "cricket"

// Config is cricketd's complete configuration. Field tags give the TOML key,
// the comment printed by `cricketd config default`, and, with
// reload:"true", that a SIGHUP applies a new value to the running daemon
// (see Reconcile; on a table, every key in it, on a table of named
// entries, adding and removing entries).
type Config struct {
	Version int    `toml:"version" comment:"Schema version of this file."`
	Root    string `toml:"root" comment:"Persistent state: images, snapshots, pod and container records."`
	State   string `toml:"state" comment:"Volatile state: sockets, pinned namespaces, bundles, exit files. Gone after reboot."`

	Log       Log       `toml:"log" comment:"The daemon's log."`
	GRPC      GRPC      `toml:"grpc" comment:"The CRI gRPC endpoint."`
	Runtime   Runtime   `toml:"runtime" comment:"Runtime handlers and cgroups."`
	Image     Image     `toml:"image" comment:"Image pulls and storage."`
	Network   Network   `toml:"network" comment:"Pod networking through CNI."`
	Streaming Streaming `toml:"streaming" comment:"The exec/attach/port-forward streaming server."`
	Metrics   Metrics   `toml:"metrics" comment:"The daemon's own Prometheus endpoint."`
	NRI       NRI       `toml:"nri" comment:"Node Resource Interface (NRI) plugins."`
	Tracing   Tracing   `toml:"tracing" comment:"OpenTelemetry traces of CRI calls and their steps, sent over OTLP/gRPC."`
}

// Log configures the daemon's log.
type Log struct {
	Verbosity int `toml:"verbosity" reload:"true" comment:"klog verbosity (0 = errors and main events; 2 = each object created or removed; 4 = every request; 5 = full requests). The -v flag overrides it."`
}

// GRPC configures the CRI endpoint.
type GRPC struct {
	Listen             string `toml:"listen" comment:"Unix socket the CRI services are served on (created 0660 root:root)."`
	MaxRecvMessageSize int    `toml:"max_recv_message_size" comment:"Largest request accepted, in bytes."`
	MaxSendMessageSize int    `toml:"max_send_message_size" comment:"Largest response sent, in bytes."`
}

// Runtime configures runtime handlers and the cgroup driver.
type Runtime struct {
	CgroupDriver   string             `toml:"cgroup_driver" comment:"cgroupfs or systemd; reported to the kubelet by the RuntimeConfig RPC."`
	DefaultHandler string             `toml:"default_handler" comment:"Handler used when a pod names none."`
	Handlers       map[string]Handler `toml:"handlers" reload:"true" comment:"Runtime handlers by name, selected by a pod's RuntimeClass. The built-in one is always present. On SIGHUP a new handler is usable at once and a removed one is refused to new pods (pods using it keep it); changing an existing handler needs a restart."`
	CDISpecDirs    []string           `toml:"cdi_spec_dirs" comment:"Directories of Container Device Interface specs, lowest priority first; a container's CDI devices are looked up here."`
	// DeviceOwnershipFromSecurityContext is the containerd and CRI-O key
	// of the same name.
	DeviceOwnershipFromSecurityContext bool `toml:"device_ownership_from_security_context" comment:"Device nodes added to a container (its devices, and the host's for a privileged one) are owned by its run_as_user and run_as_group (root when unset), so that non-root containers can use them; off, they keep the host node's owner."`
	// AbsentMountSourcesToReject is CRI-O's key of the same name.
	AbsentMountSourcesToReject []string `toml:"absent_mount_sources_to_reject" comment:"Host paths of bind mounts that are refused (InvalidArgument) when they do not exist; any other missing host path is created as a directory (0755, root), as containerd and CRI-O do."`
	// AppArmorDefaultProfile names Cricket's own AppArmor profile.
	AppArmorDefaultProfile string `toml:"apparmor_default_profile" comment:"Name of Cricket's default AppArmor profile: on a host with AppArmor enabled (and apparmor_parser installed) cricketd generates it, loads it once at start (apparmor_parser -Kr, file under <state>/apparmor) and applies it to every unprivileged container that asks for RuntimeDefault or for no profile."`
}

// Handler is one runtime handler.
type Handler struct {
	Type string `toml:"type" comment:"builtin (runc's libcontainer inside the shim) or runc (a binary with runc's command line)."`
	Path string `toml:"path" comment:"Binary of a runc-type handler."`
	Root string `toml:"root" comment:"State dir passed as --root to a runc-type handler (default: <state>/runtime/<name>)."`
	// Platform keys images per runtime handler (KEP-4216), as
	// containerd's per-runtime platform does.
	Platform string `toml:"platform" comment:"Platform (os/arch[/variant]) images pulled for this handler's pods are selected for; such images are kept apart from the host platform's. Empty: the host's."`
}

// Image configures pulls and the image store.
type Image struct {
	RegistryConfigPath     string      `toml:"registry_config_path" reload:"true" comment:"Directory of per-registry hosts.toml files (containerd's certs.d layout): mirrors, TLS, plain HTTP."`
	DockerConfig           string      `toml:"docker_config" reload:"true" comment:"A docker config.json with registry credentials; empty for none."`
	MaxConcurrentDownloads int         `toml:"max_concurrent_downloads" reload:"true" comment:"Layers fetched in parallel per pull."`
	PullProgressTimeout    Duration    `toml:"pull_progress_timeout" reload:"true" comment:"A pull that receives no bytes for this long is cancelled."`
	PinnedImages           []string    `toml:"pinned_images" reload:"true" comment:"Images reported as pinned (never garbage-collected by the kubelet)."`
	Policy                 ImagePolicy `toml:"policy" comment:"Which images may be pulled: signature verification."`
}

// ImagePolicy configures image signature verification.
type ImagePolicy struct {
	SignaturePolicy string `toml:"signature_policy" reload:"true" comment:"A signature policy in the format of containers-policy.json (CRI-O's /etc/containers/policy.json): per registry and repository scope, insecureAcceptAnything, reject or sigstoreSigned (cosign signatures, keyed or keyless with an offline Fulcio CA and Rekor key). Every pull is checked before anything is stored; a refused pull fails with SignatureValidationFailed. Empty accepts every image."`
}

// Network configures CNI.
type Network struct {
	ConfDir string   `toml:"cni_conf_dir" reload:"true" comment:"Directory of CNI network configurations; the first one in name order is used."`
	BinDirs []string `toml:"cni_bin_dirs" reload:"true" comment:"Directories searched for CNI plugins."`
	// DefaultPodSubnet is the embedded default network's subnet.
	DefaultPodSubnet string `toml:"default_pod_subnet" comment:"When the conf dir holds no configuration, pods join an embedded default network (bridge cricket0, host-local IPAM, portmap, bandwidth) on this private subnet, or on the pod CIDR the kubelet sets. Empty disables the default: pods then wait for a configuration."`
}

// Streaming configures the streaming server.
type Streaming struct {
	Address     string   `toml:"address" comment:"Address the streaming server listens on."`
	Port        int      `toml:"port" comment:"Port of the streaming server; 0 picks a free one."`
	IdleTimeout Duration `toml:"idle_timeout" comment:"A streaming connection idle for this long is closed."`
	// TLS: with a certificate and key the server speaks HTTPS and the
	// URLs it hands out are https.
	TLSCertFile string `toml:"tls_cert_file" reload:"true" comment:"PEM certificate of the streaming server; with tls_key_file the server speaks HTTPS and hands out https URLs. The files are read again on SIGHUP (certificate rotation); turning TLS on or off needs a restart."`
	TLSKeyFile  string `toml:"tls_key_file" reload:"true" comment:"PEM private key of tls_cert_file."`
	TLSCAFile   string `toml:"tls_ca_file" reload:"true" comment:"PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS). Reread on SIGHUP."`
}

// NRI configures Node Resource Interface plugin support.
type NRI struct {
	Enable              bool     `toml:"enable" comment:"Serve NRI: plugins see and may adjust pods and containers."`
	SocketPath          string   `toml:"socket_path" comment:"Unix socket external NRI plugins connect to."`
	PluginPath          string   `toml:"plugin_path" reload:"true" comment:"Directory of NRI plugins started by cricketd."`
	PluginConfigPath    string   `toml:"plugin_config_path" reload:"true" comment:"Directory of the configuration of plugins started by cricketd."`
	RegistrationTimeout Duration `toml:"registration_timeout" reload:"true" comment:"A plugin that does not register within this long is dropped; its first Synchronize (the pods and containers that exist) may take this long too."`
	RequestTimeout      Duration `toml:"request_timeout" reload:"true" comment:"A plugin that does not answer a request within this long fails it and is dropped."`
}

// Metrics configures the daemon's Prometheus endpoint.
type Metrics struct {
	Address string `toml:"address" reload:"true" comment:"host:port serving /metrics (CRI request latencies and errors, pull bytes and durations, pod start phases, shim count); empty disables it."`
	Pprof   bool   `toml:"pprof" reload:"true" comment:"Also serve Go's /debug/pprof/ on the metrics address."`
}

// Tracing configures the export of OpenTelemetry spans.
type Tracing struct {
	Endpoint      string  `toml:"endpoint" reload:"true" comment:"OTLP/gRPC collector the spans of every CRI call and of its steps (pull, unpack, CNI, shim start, executor create/start) are sent to: host:port (plain text) or https://host:port (TLS). Empty disables tracing at no cost. The kubelet's trace context (KubeletTracing) is continued. Turning tracing on or off needs a restart."`
	SamplingRatio float64 `toml:"sampling_ratio" reload:"true" comment:"Share of the traces started here that are recorded, 0 to 1; a call that carries the kubelet's trace context follows the kubelet's sampling decision."`
	ServiceName   string  `toml:"service_name" comment:"service.name of the spans."`
}

// Duration is a time.Duration written as a Go duration string ("1m30s").
type Duration struct{ time.Duration }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		Version: Version,
		Root:    "/var/lib/cricket",
		State:   "/run/cricket",
		GRPC: GRPC{
			Listen:             "/run/cricket/cricket.sock",
			MaxRecvMessageSize: 16 << 20,
			MaxSendMessageSize: 16 << 20,
		},
		Runtime: Runtime{
			CgroupDriver:               CgroupDriverCgroupfs,
			DefaultHandler:             DefaultHandlerName,
			CDISpecDirs:                []string{"/etc/cdi", "/var/run/cdi"},
			AbsentMountSourcesToReject: []string{},
			// Named like containerd's cri-containerd.apparmor.d and
			// CRI-O's crio-default.
			AppArmorDefaultProfile: "cricket-default",
			Handlers: map[string]Handler{
				DefaultHandlerName: {Type: HandlerBuiltin},
				"runc":             {Type: HandlerRuncCLI, Path: "/usr/sbin/runc"},
				"crun":             {Type: HandlerRuncCLI, Path: "/usr/bin/crun"},
			},
		},
		Image: Image{
			RegistryConfigPath:     "/etc/cricket/certs.d",
			MaxConcurrentDownloads: 3,
			PullProgressTimeout:    Duration{time.Minute},
			PinnedImages:           []string{},
		},
		Network: Network{
			ConfDir:          "/etc/cni/net.d",
			BinDirs:          []string{"/opt/cni/bin", "/usr/lib/cni"},
			DefaultPodSubnet: "10.89.0.0/16",
		},
		Streaming: Streaming{
			Address:     "127.0.0.1",
			Port:        0,
			IdleTimeout: Duration{4 * time.Hour},
		},
		NRI: NRI{
			SocketPath:          "/var/run/nri/nri.sock",
			PluginPath:          "/opt/nri/plugins",
			PluginConfigPath:    "/etc/nri/conf.d",
			RegistrationTimeout: Duration{5 * time.Second},
			RequestTimeout:      Duration{2 * time.Second},
		},
		Tracing: Tracing{
			SamplingRatio: 1,
			ServiceName:   "cricketd",
		},
	}
}
