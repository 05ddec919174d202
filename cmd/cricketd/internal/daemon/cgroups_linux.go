package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/oci"
)

// podCgroups adapts pkg/cgroups to sandbox.Cgroups. A pod's cgroup is
// its cgroup_parent, which the kubelet creates for its pods (and removes);
// a parent that does not exist yet is created here and owned, and a pod
// without one (crictl) gets /cricket/pod-<id>. Containers get a child
// cgroup each (container.HostSpecs).
type podCgroups struct {
	mgr    cgroups.Manager
	driver cgroups.Driver
}

// Path implements sandbox.Cgroups.
func (c podCgroups) Path(podID string, cfg *runtimeapi.PodSandboxConfig) (string, bool, error) {
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
	return p, !c.mgr.Exists(p), nil
}

// Create implements sandbox.Cgroups.
func (c podCgroups) Create(_ context.Context, path string) error {
	return c.mgr.Create(path, nil)
}

// Remove removes an owned pod cgroup. The pod's shim is stopped by now;
// in a cgroup of the pod's own (/cricket/pod-<id>), whatever still runs
// outlived a shim that was killed, and nothing else would ever stop it.
// A parent created for a kubelet path may be shared by a later attempt
// of the pod: its processes are left alone.
func (c podCgroups) Remove(ctx context.Context, path string) error {
	if isPodOwnCgroup(path) {
		if err := c.mgr.Kill(ctx, path); err != nil {
			return err
		}
	}
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

func isPodOwnCgroup(path string) bool {
	return filepath.Dir(path) == cgroups.DefaultCgroupfsParent && strings.HasPrefix(filepath.Base(path), "pod-")
}

// orphans reaps containers whose shim is gone (container.OrphanReaper)
// through the cgroup their OCI spec names.
type orphans struct {
	mgr cgroups.Manager
}

func (o orphans) Reap(ctx context.Context, bundle string) error {
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read OCI spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("decode OCI spec %s: %w", filepath.Join(bundle, "config.json"), err)
	}
	if spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return nil
	}
	if err := o.mgr.Kill(ctx, spec.Linux.CgroupsPath); err != nil {
		return err
	}
	return o.mgr.Remove(ctx, spec.Linux.CgroupsPath)
}
