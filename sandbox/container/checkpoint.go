package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

// checkpointWork is the scratch dir, in the container's bundle, where a
// checkpoint is assembled before it is archived; it is removed afterwards
// whatever happened.
const checkpointWork = "checkpoint-work"

// CheckCRIU returns nil when checkpoint and restore can work on this host,
// otherwise an ErrFailedPrecondition error saying why in CRIU's words.
func (s *Service) CheckCRIU() error {
	if s.opts.CRIU == nil {
		return fmt.Errorf("checkpoint/restore: CRIU was not probed: %w", errdefs.ErrFailedPrecondition)
	}
	return s.opts.CRIU()
}

// Checkpoint writes a checkpoint archive of the running container id to
// location (a file path, written 0600, its parent resolved without
// following symlinks), in the layout CRI-O and containerd share (see
// pkg/checkpoint). The container keeps running: CRIU dumps it with
// leave-running. timeout bounds the whole operation; 0 means no bound but
// the caller's deadline.
func (s *Service) Checkpoint(ctx context.Context, id, location string, timeout time.Duration) error {
	if err := checkpoint.CheckLocation(location); err != nil {
		return err
	}
	if err := s.CheckCRIU(); err != nil {
		return err
	}
	c, err := s.index.Get(id)
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c.op.Lock()
	defer c.op.Unlock()
	if c.removed {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if st := c.Status().State; st != StateRunning {
		return fmt.Errorf("container %s is %s, only a running container can be checkpointed: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	work := filepath.Join(c.Bundle, checkpointWork)
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("clear checkpoint scratch dir of container %s: %w", id, err)
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return fmt.Errorf("checkpoint scratch dir of container %s: %w", id, err)
	}
	defer func() {
		if err := os.RemoveAll(work); err != nil {
			klog.FromContext(ctx).Error(err, "remove checkpoint scratch dir", "containerID", id)
		}
	}()
	if err := s.dump(ctx, c, work, checkpoint.Options{}); err != nil {
		return err
	}
	return checkpoint.WriteArchive(work, location)
}

// dump fills dir with the container's checkpoint: CRIU's images and log
// (through the pod's shim), its rootfs changes, metadata, spec and log. The
// container is paused from before the dump until its rootfs changes are
// archived, so memory and files are one consistent cut, and resumed before
// dump returns, whatever happened. The caller holds c.op.
func (s *Service) dump(ctx context.Context, c *Container, dir string, opts checkpoint.Options) (retErr error) {
	sh, pod, err := s.shimOf(ctx, c)
	if err != nil {
		return err
	}
	if err := sh.Pause(ctx, c.ID); err != nil {
		return fmt.Errorf("pause container %s for its checkpoint: %w", c.ID, err)
	}
	resumed := false
	resume := func() error {
		if resumed {
			return nil
		}
		resumed = true
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := sh.Resume(cctx, c.ID); err != nil {
			return fmt.Errorf("resume container %s after its checkpoint: %w", c.ID, err)
		}
		return nil
	}
	defer func() { retErr = errors.Join(retErr, resume()) }()
	checkpointedAt := time.Now()
	err = sh.Checkpoint(ctx, c.ID, runtime.CheckpointOptions{
		ImagePath:      filepath.Join(dir, metadata.CheckpointDirectory),
		WorkPath:       dir,
		LeaveRunning:   true,
		TCPEstablished: opts.TCPEstablished,
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	if err := s.dumpRootfs(c, dir); err != nil {
		return err
	}
	if err := resume(); err != nil {
		return err
	}
	handler := pod.RuntimeHandler
	if handler == "" {
		handler = runtime.DefaultHandler
	}
	err = checkpoint.WriteConfigDump(dir, metadata.ContainerConfig{
		ID:              c.ID,
		Name:            c.Name,
		RootfsImage:     c.Image.Ref,
		RootfsImageRef:  c.Image.ID,
		RootfsImageName: c.Image.Name,
		OCIRuntime:      handler,
		CreatedTime:     c.CreatedAt,
		CheckpointedAt:  checkpointedAt,
	})
	if err != nil {
		return err
	}
	if err := copyFile(filepath.Join(c.Bundle, "config.json"), filepath.Join(dir, metadata.SpecDumpFile)); err != nil {
		return fmt.Errorf("spec of container %s: %w", c.ID, err)
	}
	if c.LogPath != "" {
		err := copyFile(c.LogPath, filepath.Join(dir, checkpoint.ContainerLogFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log of container %s: %w", c.ID, err)
		}
	}
	return nil
}

// dumpRootfs writes rootfs-diff.tar and deleted.files from the container's
// writable layer.
func (s *Service) dumpRootfs(c *Container, dir string) error {
	upper, err := s.opts.Rootfs.UpperDir(c.ID)
	if err != nil {
		return fmt.Errorf("writable layer of container %s: %w", c.ID, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, metadata.RootFsDiffTar), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	deleted, err := checkpoint.WriteRootfsDiff(upper, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rootfs changes of container %s: %w", c.ID, err)
	}
	if len(deleted) == 0 {
		return nil
	}
	return checkpoint.WriteJSON(dir, metadata.DeletedFilesFile, deleted)
}

// copyFile copies src to a new file dst, 0600; src is a file of Cricket's
// own (a bundle's spec, a log the shim writes).
func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// restoreDir is where, in the bundle of a container created from a
// checkpoint, the archive is unpacked (CRIU's images in its checkpoint/).
const restoreDir = "restore"

// checkpointImage checks that CRIU is usable and resolves the image the
// checkpoint archive at p was taken from (by its ID, else its name, else
// the reference it was created with); the container is created from that
// image, which must be pulled, then from the archive's rootfs changes.
func (s *Service) checkpointImage(ctx context.Context, p string) (Image, error) {
	if err := s.CheckCRIU(); err != nil {
		return Image{}, err
	}
	cfg, err := checkpoint.ReadConfigDump(p)
	if err != nil {
		return Image{}, err
	}
	err = fmt.Errorf("checkpoint archive %s names no image: %w", p, errdefs.ErrInvalidArgument)
	for _, ref := range []string{cfg.RootfsImageRef, cfg.RootfsImageName, cfg.RootfsImage} {
		if ref == "" {
			continue
		}
		var img Image
		if img, err = s.opts.Images.Resolve(ctx, ref); err == nil {
			return img, nil
		}
		err = fmt.Errorf("image %q of checkpoint archive %s: %w", ref, p, err)
	}
	return Image{}, err
}

// unpackCheckpoint unpacks the archive into the bundle and says where
// CRIU finds its images.
func unpackCheckpoint(ctx context.Context, archive, bundle string) (*runtime.RestoreOptions, error) {
	dir := filepath.Join(bundle, restoreDir)
	if err := checkpoint.Unpack(ctx, archive, dir); err != nil {
		return nil, err
	}
	images := filepath.Join(dir, metadata.CheckpointDirectory)
	if fi, err := os.Stat(images); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint archive %s has no %s directory: %w", archive, metadata.CheckpointDirectory, errdefs.ErrInvalidArgument)
	}
	return &runtime.RestoreOptions{ImagePath: images, WorkPath: dir}, nil
}
