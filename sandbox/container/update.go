package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
)

// Update replaces the cgroup resources of a created or running container
// and records them, so that ContainerStatus reports them and a restart
// keeps them. It is all or nothing: when the runtime refuses the new
// limits, the old ones are put back and the record is left unchanged. A
// nil request changes nothing.
func (s *Service) Update(ctx context.Context, id string, r *runtimeapi.LinuxContainerResources) error {
	c, err := s.index.Get(id)
	if err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	res, err := s.hostResources(r)
	if err != nil {
		return fmt.Errorf("resources of container %s: %w", id, err)
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.removed {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	switch st := c.Status().State; st {
	case StateRunning:
		err = s.updateRunning(ctx, c, res)
	case StateCreated:
		// Nothing runs yet: the new limits go into the bundle the start
		// creates the process from.
		err = updateBundle(c.Bundle, res)
	default:
		err = fmt.Errorf("container %s is %s: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		return err
	}
	r = proto.Clone(r).(*runtimeapi.LinuxContainerResources)
	return c.update(func(st Status) (Status, error) {
		st.Resources = r
		return st, nil
	})
}

// updateRunning applies res through the pod's shim; when that fails it
// restores the container's current limits, which the runtime may have
// applied in part.
func (s *Service) updateRunning(ctx context.Context, c *Container, res *specs.LinuxResources) error {
	sh, _, err := s.shimOf(ctx, c)
	if err != nil {
		return err
	}
	err = sh.Update(ctx, c.ID, res)
	if err == nil {
		return nil
	}
	if errdefs.IsUnknown(err) {
		// The runtime refused the limits for the container as it is now,
		// typically a memory limit below its current usage.
		err = fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	old, oerr := s.hostResources(c.Resources())
	if oerr == nil && old == nil {
		old = &specs.LinuxResources{}
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if oerr == nil {
		oerr = sh.Update(cctx, c.ID, old)
	}
	if oerr != nil {
		klog.FromContext(ctx).Error(oerr, "restore resources after a failed update", "containerID", c.ID)
	}
	return err
}

// updateBundle replaces the resources in bundle/config.json, keeping its
// device rules.
func updateBundle(bundle string, res *specs.LinuxResources) error {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return fmt.Errorf("read spec of bundle %s: %w", bundle, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("decode spec of bundle %s: %w", bundle, err)
	}
	if spec.Linux == nil {
		return fmt.Errorf("spec of bundle %s has no linux section: %w", bundle, errdefs.ErrFailedPrecondition)
	}
	if spec.Linux.Resources != nil {
		res.Devices = spec.Linux.Resources.Devices
	}
	spec.Linux.Resources = res
	return writeSpec(bundle, &spec)
}

// Resources returns the container's resources: the last update's, else
// the ones it was created with.
func (c *Container) Resources() *runtimeapi.LinuxContainerResources {
	if r := c.Status().Resources; r != nil {
		return r
	}
	return c.Config.GetLinux().GetResources()
}

// hostResources converts CRI resources and fits them to the host.
func (s *Service) hostResources(r *runtimeapi.LinuxContainerResources) (*specs.LinuxResources, error) {
	res, err := oci.Resources(r)
	if err != nil || s.opts.FitResources == nil {
		return res, err
	}
	return res, s.opts.FitResources(res)
}
