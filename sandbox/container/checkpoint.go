package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/checkpoint"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/securefs"
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
		return resumeAfterCheckpoint(ctx, sh, c.ID)
	}
	defer func() { retErr = errors.Join(retErr, resume()) }()
	checkpointedAt := time.Now()
	if err := s.dumpPaused(ctx, sh, c, dir, opts); err != nil {
		return err
	}
	if err := resume(); err != nil {
		return err
	}
	return writeCheckpointMeta(c, pod, dir, checkpointedAt)
}

func resumeAfterCheckpoint(ctx context.Context, sh Shim, id string) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := sh.Resume(cctx, id); err != nil {
		return fmt.Errorf("resume container %s after its checkpoint: %w", id, err)
	}
	return nil
}

// dumpPaused dumps the paused container c with CRIU (leaving it running
// once resumed) and archives its rootfs changes into dir.
func (s *Service) dumpPaused(ctx context.Context, sh Shim, c *Container, dir string, opts checkpoint.Options) error {
	err := sh.Checkpoint(ctx, c.ID, runtime.CheckpointOptions{
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
	return s.dumpRootfs(c, dir)
}

// writeCheckpointMeta adds config.dump, spec.dump and the container's log
// to dir.
func writeCheckpointMeta(c *Container, pod Pod, dir string, checkpointedAt time.Time) error {
	handler := pod.RuntimeHandler
	if handler == "" {
		handler = runtime.DefaultHandler
	}
	err := checkpoint.WriteConfigDump(dir, metadata.ContainerConfig{
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
func (s *Service) checkpointImage(ctx context.Context, p, handler string) (Image, error) {
	if err := s.CheckCRIU(); err != nil {
		return Image{}, err
	}
	cfg, err := checkpoint.ReadConfigDump(p)
	if err != nil {
		return Image{}, err
	}
	return s.resolveCheckpointed(ctx, cfg, p, handler)
}

// resolveCheckpointed resolves the image config.dump names: by its ID,
// else its name, else the reference it was created with.
func (s *Service) resolveCheckpointed(ctx context.Context, cfg metadata.ContainerConfig, from, handler string) (Image, error) {
	err := fmt.Errorf("checkpoint %s names no image: %w", from, errdefs.ErrInvalidArgument)
	for _, ref := range []string{cfg.RootfsImageRef, cfg.RootfsImageName, cfg.RootfsImage} {
		if ref == "" {
			continue
		}
		img, rerr := s.opts.Images.Resolve(ctx, ref, handler)
		if rerr == nil {
			return img, nil
		}
		err = fmt.Errorf("image %q of checkpoint %s: %w", ref, from, rerr)
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
	return restoreOptions(dir, archive)
}

// CheckpointPod writes one consistent checkpoint of the running
// containers ids of pod podID into outDir (an existing, empty directory,
// reached without symlinks): every container is paused before any is
// captured, all stay paused until each is captured, and all are resumed
// before CheckpointPod returns, whatever happened. outDir gets one
// directory per container, named by its CRI name, in the container
// archive's layout, and pod.options. Nothing is written outside outDir;
// on error everything written in it is removed (outDir itself stays).
func (s *Service) CheckpointPod(ctx context.Context, podID string, ids []string, outDir string, opts checkpoint.Options) (retErr error) {
	if err := checkpoint.CheckOutputDir(outDir); err != nil {
		return err
	}
	if err := s.CheckCRIU(); err != nil {
		return err
	}
	ctrs, unlock, err := s.lockPodContainers(podID, ids)
	if err != nil {
		return err
	}
	defer unlock()
	sh, pod, err := s.shimOf(ctx, ctrs[0])
	if err != nil {
		return err
	}
	var works []string
	defer func() {
		for _, w := range works {
			if err := os.RemoveAll(w); err != nil {
				klog.FromContext(ctx).Error(err, "remove checkpoint scratch dir", "dir", w)
			}
		}
	}()
	var paused []string
	defer func() {
		for _, id := range paused {
			retErr = errors.Join(retErr, resumeAfterCheckpoint(ctx, sh, id))
		}
	}()
	for _, c := range ctrs {
		if err := sh.Pause(ctx, c.ID); err != nil {
			return fmt.Errorf("pause container %s for the pod checkpoint: %w", c.ID, err)
		}
		paused = append(paused, c.ID)
	}
	checkpointedAt := time.Now()
	for _, c := range ctrs {
		work := filepath.Join(c.Bundle, checkpointWork)
		if err := os.RemoveAll(work); err != nil {
			return err
		}
		if err := os.Mkdir(work, 0o700); err != nil {
			return fmt.Errorf("checkpoint scratch dir of container %s: %w", c.ID, err)
		}
		works = append(works, work)
		if err := s.dumpPaused(ctx, sh, c, work, opts); err != nil {
			return err
		}
	}
	for _, id := range paused {
		if err := resumeAfterCheckpoint(ctx, sh, id); err != nil {
			paused = nil
			return err
		}
	}
	paused = nil
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, emptyDir(outDir))
		}
	}()
	return writePodCheckpoint(ctrs, pod, works, outDir, checkpointedAt, opts)
}

// writePodCheckpoint completes each container's scratch dir and copies it
// into outDir, then writes pod.options.
func writePodCheckpoint(ctrs []*Container, pod Pod, works []string, outDir string, at time.Time, opts checkpoint.Options) error {
	names := map[string]string{}
	for i, c := range ctrs {
		if err := writeCheckpointMeta(c, pod, works[i], at); err != nil {
			return err
		}
		name := c.Config.GetMetadata().GetName()
		if err := checkpoint.CheckName(name); err != nil {
			return err
		}
		if err := checkpoint.CopyInto(works[i], outDir, name); err != nil {
			return fmt.Errorf("copy the checkpoint of container %s into %s: %w", c.ID, outDir, err)
		}
		names[name] = name
	}
	return checkpoint.WritePodOptions(outDir, names, opts)
}

// lockPodContainers looks the containers ids up, checks that each belongs
// to podID and runs, and takes their op locks (in ID order: two pod
// checkpoints cannot deadlock).
func (s *Service) lockPodContainers(podID string, ids []string) ([]*Container, func(), error) {
	var ctrs []*Container
	for _, id := range ids {
		c, err := s.index.Get(id)
		if err != nil {
			return nil, nil, err
		}
		if c.PodID != podID {
			return nil, nil, fmt.Errorf("container %s belongs to pod %s, not %s: %w", id, c.PodID, podID, errdefs.ErrInvalidArgument)
		}
		ctrs = append(ctrs, c)
	}
	if len(ctrs) == 0 {
		return nil, nil, fmt.Errorf("no containers to checkpoint: %w", errdefs.ErrInvalidArgument)
	}
	slices.SortFunc(ctrs, func(a, b *Container) int { return strings.Compare(a.ID, b.ID) })
	for i := 1; i < len(ctrs); i++ {
		if ctrs[i].ID == ctrs[i-1].ID {
			return nil, nil, fmt.Errorf("container %s is listed twice: %w", ctrs[i].ID, errdefs.ErrInvalidArgument)
		}
	}
	var locked []*Container
	unlock := func() {
		for _, c := range locked {
			c.op.Unlock()
		}
	}
	for _, c := range ctrs {
		c.op.Lock()
		locked = append(locked, c)
		if st := c.Status().State; c.removed || st != StateRunning {
			unlock()
			return nil, nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st, errdefs.ErrFailedPrecondition)
		}
	}
	return ctrs, unlock, nil
}

// emptyDir removes what a failed pod checkpoint wrote in dir, which was
// empty before, keeping dir itself.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, securefs.RemoveAllUnmounted(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// checkpointDirImage is checkpointImage for the directory of a container
// in a pod checkpoint; ref, the image the restore request names, must be
// the checkpointed image.
func (s *Service) checkpointDirImage(ctx context.Context, dir, ref, handler string) (Image, error) {
	if err := s.CheckCRIU(); err != nil {
		return Image{}, err
	}
	cfg, err := checkpoint.ReadDirConfigDump(dir)
	if err != nil {
		return Image{}, err
	}
	img, err := s.resolveCheckpointed(ctx, cfg, dir, handler)
	if err != nil || ref == "" {
		return img, err
	}
	want, err := s.opts.Images.Resolve(ctx, ref, handler)
	if err != nil {
		return Image{}, err
	}
	if want.ID != img.ID {
		return Image{}, fmt.Errorf("the restore names image %q (%s) but the checkpoint in %s was taken from %s: %w", ref, want.ID, dir, img.ID, errdefs.ErrFailedPrecondition)
	}
	return img, nil
}

// copyCheckpoint copies a container's checkpoint directory (left as it
// is, as RestorePod demands) into the bundle; tcpEstablished restores its
// established TCP connections.
func copyCheckpoint(dir, bundle string, tcpEstablished bool) (*runtime.RestoreOptions, error) {
	if err := checkpoint.CopyInto(dir, bundle, restoreDir); err != nil {
		return nil, fmt.Errorf("copy checkpoint %s: %w", dir, err)
	}
	o, err := restoreOptions(filepath.Join(bundle, restoreDir), dir)
	if err != nil {
		return nil, err
	}
	o.TCPEstablished = tcpEstablished
	return o, nil
}

func restoreOptions(dir, from string) (*runtime.RestoreOptions, error) {
	images := filepath.Join(dir, metadata.CheckpointDirectory)
	if fi, err := os.Stat(images); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint %s has no %s directory: %w", from, metadata.CheckpointDirectory, errdefs.ErrInvalidArgument)
	}
	return &runtime.RestoreOptions{ImagePath: images, WorkPath: dir}, nil
}
