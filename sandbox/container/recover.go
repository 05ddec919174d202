package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/securefs"
)

// Load recovers the containers of a previous run: it reloads their
// records, re-reserves their names and reconciles running ones with their
// shims: a container still running is watched again; one that exited
// meanwhile gets the exit its shim recorded. Records that cannot be loaded
// are logged and skipped; Load never fails start-up. Load the pods first.
func (s *Service) Load(ctx context.Context) {
	logger := klog.FromContext(ctx)
	err := s.opts.Store.Walk(bucket, func(id string, version int, decode func(any) error) error {
		if version != recordVersion {
			return fmt.Errorf("schema version %d, want %d", version, recordVersion)
		}
		var rec record
		if err := decode(&rec); err != nil {
			return err
		}
		return s.recover(ctx, &rec)
	}, func(id string, err error) {
		logger.Error(err, "skipping container that cannot be recovered", "containerID", id)
	})
	if err != nil {
		logger.Error(err, "cannot list container records")
	}
	s.sweepDirs(ctx)
}

// sweepDirs removes every bundle and idmapped mounts dir that no record
// names, with what is mounted in it: a container's record is written
// before its dirs are made and deleted after they are gone, so such a dir
// is debris (of a bug, or of a version without that order). A record that
// cannot be loaded still names its container, whose dirs stay (see the
// sandbox service's sweep). When the records cannot be listed nothing is
// swept.
func (s *Service) sweepDirs(ctx context.Context) {
	logger := klog.FromContext(ctx)
	ids, err := s.opts.Store.IDs(bucket)
	if err != nil {
		logger.Error(err, "cannot list container records, not sweeping the container state dirs")
		return
	}
	named := map[string]bool{}
	for _, id := range ids {
		named[id] = true
	}
	for _, root := range []string{s.opts.StateDir, s.opts.IDMapDir} {
		if root == "" {
			continue
		}
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if !e.IsDir() || named[e.Name()] {
				continue
			}
			dir := filepath.Join(root, e.Name())
			if err := s.sweep(ctx, e.Name(), dir); err != nil {
				logger.Error(err, "cannot remove state dir no record names", "path", dir)
				continue
			}
			logger.Info("removed state dir no record names", "path", dir)
		}
	}
}

// sweep removes dir, a bundle or idmapped mounts dir of container id,
// which no record names: its rootfs and image volumes are unmounted and
// their writable layers removed (Rootfs.Unmount also detaches the
// idmapped mounts staged for it), then every mount left beneath dir.
func (s *Service) sweep(ctx context.Context, id, dir string) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	bundle := filepath.Join(s.opts.StateDir, id)
	errs := []error{s.opts.Rootfs.Unmount(cctx, id, filepath.Join(bundle, "rootfs"))}
	vols, _ := os.ReadDir(filepath.Join(bundle, "imagevols"))
	for _, v := range vols {
		if i, err := strconv.Atoi(v.Name()); err == nil {
			key, target := imageVolumeMount(Metadata{ID: id, Bundle: bundle}, i)
			errs = append(errs, s.opts.Rootfs.Unmount(cctx, key, target))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return securefs.RemoveAllUnmounted(dir)
}

func (s *Service) recover(ctx context.Context, rec *record) error {
	md, err := rec.metadata()
	if err != nil {
		return err
	}
	if rec.Status.State == stateCreating {
		return s.abandon(ctx, md)
	}
	if err := s.names.Load(md.Name, md.ID); err != nil {
		return err
	}
	c := newContainer(md, rec.Status, s.persist)
	c.changed = s.changed
	s.index.Add(md.ID, c)
	switch rec.Status.State {
	case StateRunning:
		s.reconcile(ctx, c)
	case StateCreated:
		s.reconcileCreated(ctx, c)
	}
	return nil
}

// abandon removes a container whose Create was cut short by a crash.
func (s *Service) abandon(ctx context.Context, md Metadata) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := s.unpinHostMounts(md); err != nil {
		return fmt.Errorf("unmount host paths of half-created container: %w", err)
	}
	if err := s.unmountImageVolumes(cctx, md); err != nil {
		return fmt.Errorf("unmount image volumes of half-created container: %w", err)
	}
	if err := s.opts.Rootfs.Unmount(cctx, md.ID, md.Rootfs); err != nil {
		return fmt.Errorf("unmount rootfs of half-created container: %w", err)
	}
	if err := securefs.RemoveAllUnmounted(md.Bundle); err != nil {
		return fmt.Errorf("remove bundle of half-created container: %w", err)
	}
	klog.FromContext(ctx).Info("removed container whose creation was interrupted", "containerID", md.ID)
	return s.opts.Store.Delete(bucket, md.ID)
}

// reconcileCreated catches a Start cut short after the shim had the
// process but before its state was recorded.
func (s *Service) reconcileCreated(ctx context.Context, c *Container) {
	ctx, cancel := context.WithTimeout(ctx, recoveryTimeout)
	defer cancel()
	sh, _, err := s.shimOf(ctx, c)
	if err != nil {
		// The shim is gone: a process it created for the container (an
		// init waiting to be started) would run on unseen; its cgroup
		// ends it (found by test/fault: "cricket-shim init" left).
		if errors.Is(err, errdefs.ErrUnavailable) {
			if err := s.reapOrphan(ctx, c); err != nil {
				klog.FromContext(ctx).Error(err, "cannot kill what the lost shim made of a created container", "containerID", c.ID)
			}
		}
		return
	}
	ps, err := sh.State(ctx, c.ID)
	if err != nil || ps.StartedAt.IsZero() {
		// Unknown to the shim, or created there but never started: the
		// next Start begins afresh (the shim's copy goes first).
		if err == nil {
			_ = sh.Delete(ctx, c.ID)
		}
		return
	}
	err = c.update(func(st Status) (Status, error) {
		st.State, st.Pid, st.StartedAt = StateRunning, ps.Pid, ps.StartedAt
		return st, nil
	})
	if err != nil {
		klog.FromContext(ctx).Error(err, "cannot record interrupted start", "containerID", c.ID)
		return
	}
	s.reconcile(context.WithoutCancel(ctx), c)
}

// reconcile brings a container recorded as running up to date with its
// shim, or with the shim's records when the shim is gone.
func (s *Service) reconcile(ctx context.Context, c *Container) {
	bg := context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, recoveryTimeout)
	defer cancel()
	sh, _, err := s.shimOf(ctx, c)
	if err != nil {
		klog.FromContext(ctx).Info("shim of running container is gone, taking its exit from disk", "containerID", c.ID, "err", err)
		s.recordLastState(bg, c)
		return
	}
	ps, err := sh.State(ctx, c.ID)
	switch {
	case errdefs.IsNotFound(err):
		s.recordLastState(bg, c)
	case err != nil && errors.Is(err, errdefs.ErrUnavailable):
		s.recordLastState(bg, c)
	case err != nil:
		// Unsure: keep it running and let the watcher find out.
		klog.FromContext(ctx).Error(err, "cannot query container state", "containerID", c.ID)
		go s.watch(bg, c, sh)
	case ps.Exit != nil:
		s.recordExit(bg, c, *ps.Exit)
	default:
		go s.watch(bg, c, sh)
	}
}

// recoveryTimeout bounds the reconciliation of one container at start-up.
const recoveryTimeout = 10 * time.Second
