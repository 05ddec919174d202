package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
	"github.com/cricket-cri/cricket/sandbox"
)

// hostShm is the node's /dev/shm, which a pod using the node's IPC
// namespace shares.
const hostShm = "/dev/shm"

// podFiles adapts pkg/podfiles to sandbox.PodFiles.
//
// The files of a pod with a user namespace are given to the host ids of
// its root (CRI-O's way) rather than idmapped into its containers as
// volumes are: the shm tmpfs is mounted uid=,gid= and the other files
// are chowned. tmpfs takes an idmap only from Linux 6.3, and the state
// dir (/run) and the shm are tmpfs, so an idmap would fail on the kernels
// before (Debian 12's 6.1). And what a container writes to its shm then
// lands under its own host ids, as in its rootfs's upper dir, instead of
// as host root; containerd does not idmap the shm either.
//
// With SELinux the hostname, hosts and resolv.conf files get the pod's
// mount label at level s0 (CRI-O's way), which every container of the pod
// may read whatever its level; the shm tmpfs is mounted with the pod's
// mount label (containerd's way).
type podFiles struct {
	// relabel gives a file the mount label at level s0
	// (selinux.SELinux.RelabelShared); nil without SELinux.
	relabel func(path, mountLabel string) error
}

func (pf podFiles) Write(_ context.Context, dir string, cfg *runtimeapi.PodSandboxConfig, net sandbox.NetworkStatus, userns *oci.IDMappings, mountLabel string) (podfiles.Paths, error) {
	p := podfiles.PathsIn(dir)
	hostname := podHostname(cfg)
	if err := podfiles.WriteHostname(p.Hostname, hostname); err != nil {
		return podfiles.Paths{}, err
	}
	if err := podfiles.WriteResolvConf(p.ResolvConf, cfg.GetDnsConfig(), podfiles.HostResolvConf); err != nil {
		return podfiles.Paths{}, err
	}
	var ips []string
	if net.IP != "" {
		ips = append([]string{net.IP}, net.AdditionalIPs...)
	}
	if err := podfiles.WriteHosts(p.Hosts, hostname, ips); err != nil {
		return podfiles.Paths{}, err
	}
	f := podfiles.Paths{Hostname: p.Hostname, Hosts: p.Hosts, ResolvConf: p.ResolvConf, Shm: hostShm}
	var owner *podfiles.Owner
	if userns != nil {
		owner = &podfiles.Owner{UID: userns.RootUID(), GID: userns.RootGID()}
		if err := podfiles.Chown(f, *owner); err != nil {
			return podfiles.Paths{}, err
		}
		f.PodOwned = true
	}
	if mountLabel != "" && pf.relabel != nil {
		for _, p := range []string{f.Hostname, f.Hosts, f.ResolvConf} {
			if err := pf.relabel(p, mountLabel); err != nil {
				return podfiles.Paths{}, err
			}
		}
	}
	// A pod with a user namespace never has the host's IPC
	// (oci.PodUserNamespace), so the host's /dev/shm is never given away.
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetIpc() == runtimeapi.NamespaceMode_NODE {
		return f, nil
	}
	size, err := podfiles.ShmSize(cfg)
	if err != nil {
		return podfiles.Paths{}, err
	}
	if err := podfiles.MountShm(p.Shm, size, owner, mountLabel); err != nil {
		return podfiles.Paths{}, err
	}
	f.Shm = p.Shm
	return f, nil
}

// podHostname is the config's hostname, or the node's for a pod without
// one (host-network pods and crictl).
func podHostname(cfg *runtimeapi.PodSandboxConfig) string {
	if h := cfg.GetHostname(); h != "" && cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() != runtimeapi.NamespaceMode_NODE {
		return h
	}
	h, _ := os.Hostname()
	return h
}

func (pf podFiles) Remove(_ context.Context, dir string) error {
	p := podfiles.PathsIn(dir)
	errs := []error{podfiles.UnmountShm(p.Shm)}
	for _, p := range []string{p.Hostname, p.Hosts, p.ResolvConf} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove pod file: %w", err))
		}
	}
	return errors.Join(errs...)
}
