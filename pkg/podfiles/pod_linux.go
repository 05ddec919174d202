package podfiles

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// HostShm is the /dev/shm a pod with host IPC shares.
const HostShm = "/dev/shm"

// Options complete what the sandbox config does not say.
type Options struct {
	// PodIPs are written to /etc/hosts with the pod's hostname.
	PodIPs []string
	// NodeHostname is used when the config has no hostname (host network
	// pods).
	NodeHostname string
	// HostResolvConf is copied when the config has no DNSConfig; empty
	// means HostResolvConf.
	HostResolvConf string
}

// Write creates all the pod files under dir (created if missing): hostname,
// resolv.conf, hosts and a mounted /dev/shm — or, for a pod with host IPC,
// the host's /dev/shm, which is not mounted. On error nothing is left.
func Write(dir string, cfg *runtimeapi.PodSandboxConfig, o Options) (_ Paths, retErr error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Paths{}, fmt.Errorf("create pod dir %s: %w", dir, err)
	}
	p := PathsIn(dir)
	defer func() {
		if retErr != nil {
			_ = Remove(dir)
		}
	}()
	hostname := cfg.GetHostname()
	if hostname == "" {
		hostname = o.NodeHostname
	}
	if err := WriteHostname(p.Hostname, hostname); err != nil {
		return Paths{}, err
	}
	hostResolv := o.HostResolvConf
	if hostResolv == "" {
		hostResolv = HostResolvConf
	}
	if err := WriteResolvConf(p.ResolvConf, cfg.GetDnsConfig(), hostResolv); err != nil {
		return Paths{}, err
	}
	if err := WriteHosts(p.Hosts, hostname, o.PodIPs); err != nil {
		return Paths{}, err
	}
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetIpc() == runtimeapi.NamespaceMode_NODE {
		p.Shm = HostShm
		return p, nil
	}
	size, err := ShmSize(cfg)
	if err != nil {
		return Paths{}, err
	}
	if err := MountShm(p.Shm, size, nil, ""); err != nil {
		return Paths{}, err
	}
	return p, nil
}

// Remove unmounts the pod's /dev/shm under dir and removes the files Write
// made, then dir if it is empty. It never touches a host /dev/shm (it only
// looks under dir). Missing files are no error.
func Remove(dir string) error {
	p := PathsIn(dir)
	errs := []error{UnmountShm(p.Shm)}
	for _, f := range []string{p.Hostname, p.ResolvConf, p.Hosts} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove pod file: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("remove pod dir %s: %w", dir, err)
	}
	return nil
}

// Chown gives the pod's hostname, hosts and resolv.conf files (those that
// p names) to o. The shm tmpfs is given at mount (MountShm).
func Chown(p Paths, o Owner) error {
	for _, f := range []string{p.Hostname, p.Hosts, p.ResolvConf} {
		if f == "" {
			continue
		}
		if err := os.Lchown(f, int(o.UID), int(o.GID)); err != nil {
			return fmt.Errorf("chown pod file %s to %d:%d: %w", f, o.UID, o.GID, err)
		}
	}
	return nil
}
