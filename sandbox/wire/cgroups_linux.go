package wire

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/oci"
)

// podCgroups adapts pkg/cgroups to sandbox.CgroupManager. A pod's cgroup is
// its cgroup_parent, which the kubelet creates for its pods (and removes);
// a parent that does not exist yet is created here and owned, and a pod
// without one (crictl) gets /cricket/pod-<id>. Containers get a child cgroup each (specBuilder).
type podCgroups struct {
	mgr    cgroups.Manager
	driver cgroups.Driver
}

func (c podCgroups) Create(_ context.Context, podID string, cfg *runtimeapi.PodSandboxConfig) (string, bool, error) {
	parent := cfg.GetLinux().GetCgroupParent()
	if c.driver == cgroups.Systemd {
		// systemd creates slices on demand for the scopes put in them.
		if parent == "" {
			parent = cgroups.DefaultSystemdParent
		}
		return parent, false, nil
	}
	var p string
	var err error
	if parent == "" {
		// A cgroup of its own, so that removing it never races another pod.
		p, err = cgroups.ChildPath(cgroups.Cgroupfs, cgroups.DefaultCgroupfsParent, "pod-"+podID)
	} else {
		p, err = cgroups.CgroupfsPath(parent)
	}
	if err != nil {
		return "", false, err
	}
	if c.mgr.Exists(p) {
		return p, false, nil
	}
	// A cgroup made here is sized here: the kubelet sizes the ones it makes.
	res, err := oci.PodResources(cfg.GetLinux())
	if err != nil {
		return "", false, err
	}
	if err := c.mgr.Create(p, res); err != nil {
		return "", false, err
	}
	return p, true, nil
}

func (c podCgroups) Remove(ctx context.Context, path string) error {
	return c.mgr.Remove(ctx, path)
}

// Resize sizes a pod cgroup made by Create to resources plus overhead.
func (c podCgroups) Resize(_ context.Context, path string, overhead, resources *runtimeapi.LinuxContainerResources) error {
	res, err := oci.PodResources(&runtimeapi.LinuxPodSandboxConfig{Overhead: overhead, Resources: resources})
	if err != nil || res == nil {
		return err
	}
	return c.mgr.Apply(path, res)
}
