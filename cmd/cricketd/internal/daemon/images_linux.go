package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/securefs"
	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// images adapts pkg/image to container.Images.
type images struct {
	svc *image.Service
	// platforms are the handlers' image platforms ("" the default's).
	platforms map[string]string
}

func (i images) Resolve(_ context.Context, ref, handler string) (container.Image, error) {
	im, err := i.svc.Status(ref, i.platforms[handler])
	if err != nil {
		return container.Image{}, err
	}
	cfg := im.Config.Config
	out := container.Image{
		ID:         im.ID,
		Ref:        ref,
		RepoRef:    im.ID,
		TopChainID: im.TopChainID(),
		Config: oci.ImageConfig{
			Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env,
			WorkingDir: cfg.WorkingDir, User: cfg.User, StopSignal: cfg.StopSignal,
		},
	}
	if im.Artifact {
		out.ArtifactDir = i.svc.ArtifactDir(im.ID)
	}
	if im.Checkpoint != "" {
		// The archive's files are the image's one layer, as buildah and
		// checkpointctl build it; several layers would need merging.
		if len(im.ChainIDs) != 1 {
			return container.Image{}, fmt.Errorf("checkpoint image %s has %d layers, want the one holding the checkpoint: %w", ref, len(im.ChainIDs), errdefs.ErrInvalidArgument)
		}
		dir, err := i.svc.Snapshots().LayerDir(im.ChainIDs[0])
		if err != nil {
			return container.Image{}, fmt.Errorf("layer of checkpoint image %s: %w", ref, err)
		}
		out.CheckpointDir = dir
	}
	if len(im.RepoDigests) > 0 {
		out.RepoRef = im.RepoDigests[0]
	}
	if len(im.RepoTags) > 0 {
		out.Name = im.RepoTags[0]
	}
	return out, nil
}

// rootfs adapts pkg/snapshot (and pkg/image's artifact holds) to
// container.Rootfs.
type rootfs struct {
	snaps *snapshot.Store
	// artifacts holds the files of an artifact an image volume mounts.
	artifacts artifactHolds
	// idmapDir holds the idmapped mounts container.HostSpecs staged per container,
	// removed with its rootfs.
	idmapDir string
	// relabel gives a rootfs that cannot be mounted with a context (a
	// bind mount: an image without layers) its mount label; nil without
	// SELinux.
	relabel func(path, mountLabel string) error
}

func (r rootfs) Mount(ctx context.Context, key string, img container.Image, target, mountLabel string) error {
	return r.mount(key, img, target, mountLabel, nil)
}

func (r rootfs) MountIDMapped(_ context.Context, key string, img container.Image, target, mountLabel string, idm container.RootfsIDMap) error {
	return r.mount(key, img, target, mountLabel, &snapshot.IDMap{UsernsPath: idm.UsernsPath, RootUID: idm.RootUID, RootGID: idm.RootGID})
}

func (r rootfs) mount(key string, img container.Image, target, mountLabel string, idm *snapshot.IDMap) (retErr error) {
	if img.ArtifactDir != "" {
		// Its files, read-only in the store, through a hold of the
		// volume's own: a RemoveImage meanwhile must not empty the
		// mount of a running container.
		dir, err := r.artifacts.HoldArtifact(key, img.ID)
		if err != nil {
			return fmt.Errorf("hold artifact %s: %w", img.ID, err)
		}
		if err := securefs.BindNoFollow(dir, target); err != nil {
			_ = r.artifacts.ReleaseArtifact(key)
			return err
		}
		return nil
	}
	m, err := r.snaps.Prepare(key, img.TopChainID)
	if errdefs.IsAlreadyExists(err) {
		// Left by a create that died before its rollback: reuse it.
		m, err = r.snaps.Mounts(key)
	}
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = r.snaps.Remove(key)
		}
	}()
	if mountLabel != "" && m.Type != "overlay" && r.relabel != nil {
		// The container's own writable dir: relabelled, not shared.
		if err := r.relabel(m.Source, mountLabel); err != nil {
			return err
		}
	}
	m = m.WithMountLabel(mountLabel)
	if idm != nil {
		return snapshot.MountIDMappedAt(m, target, *idm)
	}
	return snapshot.MountAt(m, target)
}

func (r rootfs) Unmount(_ context.Context, key, target string) error {
	if r.idmapDir != "" {
		if err := snapshot.RemoveIDMappedBinds(filepath.Join(r.idmapDir, key)); err != nil {
			return err
		}
	}
	if err := snapshot.Unmount(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := r.snaps.Remove(key); err != nil {
		return fmt.Errorf("remove writable layer of container %s: %w", key, err)
	}
	return r.artifacts.ReleaseArtifact(key)
}

// artifactHolds is what rootfs needs of pkg/image for artifacts.
type artifactHolds interface {
	HoldArtifact(key, id string) (string, error)
	ReleaseArtifact(key string) error
}

func (r rootfs) UpperDir(key string) (string, error) { return r.snaps.UpperDir(key) }
