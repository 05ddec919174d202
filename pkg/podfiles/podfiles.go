// Package podfiles writes the files a pod sandbox shares with its
// containers: hostname, resolv.conf, hosts, and the pod's /dev/shm tmpfs.
// Containers bind-mount them (pkg/oci PodFiles).
package podfiles

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// File names under a pod's directory.
const (
	HostnameFile   = "hostname"
	ResolvConfFile = "resolv.conf"
	HostsFile      = "hosts"
	ShmDir         = "shm"
)

// DNS limits the kubelet enforces (pkg/apis/core/validation): at most 32
// search domains, 2048 characters in the search line, 253 per domain.
const (
	MaxDNSSearchPaths     = 32
	MaxDNSSearchListChars = 2048
	maxDomainChars        = 253
)

// HostResolvConf is the host file copied for a pod without a DNSConfig,
// as containerd does.
const HostResolvConf = "/etc/resolv.conf"

// Paths are the host files of a pod that its containers bind-mount
// (pkg/oci PodFileMounts); an empty path is not mounted. They are recorded
// with the pod (sandbox.Sandbox.Files).
type Paths struct {
	Hostname   string `json:"hostname,omitempty"`   // -> /etc/hostname
	ResolvConf string `json:"resolvConf,omitempty"` // -> /etc/resolv.conf
	Hosts      string `json:"hosts,omitempty"`      // -> /etc/hosts
	// Shm is the pod's tmpfs, or the host's /dev/shm for host IPC.
	Shm string `json:"shm,omitempty"` // -> /dev/shm
	// PodOwned: the files and the shm tmpfs belong to the host ids of the
	// root of the pod's user namespace (Owner), so containers bind them
	// as they are, without an idmap. False for a pod without a user
	// namespace, and for one recorded before Cricket did this (its pod
	// files are idmapped).
	PodOwned bool `json:"podOwned,omitempty"`
}

// Owner is the host uid and gid that own a pod's files: those of the root
// of its user namespace.
type Owner struct {
	UID, GID uint32
}

// PathsIn returns the pod file paths under a pod directory.
func PathsIn(dir string) Paths {
	return Paths{
		Hostname:   filepath.Join(dir, HostnameFile),
		ResolvConf: filepath.Join(dir, ResolvConfFile),
		Hosts:      filepath.Join(dir, HostsFile),
		Shm:        filepath.Join(dir, ShmDir),
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// HostnameContent is the hostname file: the name and a newline.
func HostnameContent(hostname string) ([]byte, error) {
	if hostname == "" || len(hostname) > 64 || strings.ContainsAny(hostname, " \t\r\n\x00/") {
		return nil, invalid("hostname %q", hostname)
	}
	return []byte(hostname + "\n"), nil
}

// ResolvConfContent renders a CRI DNSConfig as resolv.conf, after
// validating it: servers are IP addresses, search domains respect the
// kubelet's limits, no entry may contain whitespace that would inject
// another directive.
func ResolvConfContent(dns *runtimeapi.DNSConfig) ([]byte, error) {
	if err := validateDNS(dns); err != nil {
		return nil, err
	}
	var b strings.Builder
	if s := dns.GetSearches(); len(s) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(s, " "))
	}
	for _, ns := range dns.GetServers() {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if o := dns.GetOptions(); len(o) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(o, " "))
	}
	return []byte(b.String()), nil
}

func validateDNS(dns *runtimeapi.DNSConfig) error {
	for _, s := range dns.GetServers() {
		if net.ParseIP(s) == nil {
			return invalid("dns server %q is not an IP address", s)
		}
	}
	searches := dns.GetSearches()
	if len(searches) > MaxDNSSearchPaths {
		return invalid("%d dns search domains, at most %d allowed", len(searches), MaxDNSSearchPaths)
	}
	if n := len(strings.Join(searches, " ")); n > MaxDNSSearchListChars {
		return invalid("dns search list of %d characters, at most %d allowed", n, MaxDNSSearchListChars)
	}
	for _, s := range searches {
		if s == "" || len(s) > maxDomainChars || hasSpace(s) {
			return invalid("dns search domain %q", s)
		}
	}
	for _, o := range dns.GetOptions() {
		if o == "" || hasSpace(o) {
			return invalid("dns option %q", o)
		}
	}
	return nil
}

func hasSpace(s string) bool { return strings.ContainsAny(s, " \t\r\n\x00") }

// HostsContent is the pod's /etc/hosts: the localhost entries the kubelet
// writes, then the pod's IPs with its hostname when known.
func HostsContent(hostname string, podIPs []string) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Cricket-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	if hostname == "" {
		return []byte(b.String()), nil
	}
	if _, err := HostnameContent(hostname); err != nil {
		return nil, err
	}
	for _, ip := range podIPs {
		if net.ParseIP(ip) == nil {
			return nil, invalid("pod IP %q", ip)
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	}
	return []byte(b.String()), nil
}

// WriteHostname writes the hostname file atomically.
func WriteHostname(path, hostname string) error {
	data, err := HostnameContent(hostname)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o644)
}

// WriteResolvConf writes resolv.conf from dns, or a copy of hostResolv
// (normally HostResolvConf) when dns is nil.
func WriteResolvConf(path string, dns *runtimeapi.DNSConfig, hostResolv string) error {
	var data []byte
	var err error
	if dns == nil {
		data, err = os.ReadFile(hostResolv)
		if err != nil {
			return fmt.Errorf("read host resolv.conf %s: %w", hostResolv, err)
		}
	} else if data, err = ResolvConfContent(dns); err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o644)
}

// WriteHosts writes the hosts file atomically.
func WriteHosts(path, hostname string, podIPs []string) error {
	data, err := HostsContent(hostname, podIPs)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o644)
}

// WriteFileAtomic writes data to a temporary file next to path, syncs it
// and renames it over path, so a reader (or a crash) sees the old or the
// new content, never a part. Containers that already bind-mounted the old
// file keep seeing it.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (retErr error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file in %s: %w", dir, err)
	}
	defer func() {
		if retErr != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", f.Name(), path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
