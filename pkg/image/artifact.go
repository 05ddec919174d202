package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/metrics"
)

// AnnotationTitle names a layer file of an artifact (image-spec).
const AnnotationTitle = "org.opencontainers.image.title"

// ArtifactDir is the directory an artifact image is mounted from: one file
// per layer, named by its title annotation, else by its digest's hex (the
// layout CRI-O gives artifact image volumes).
func (s *Service) ArtifactDir(id string) string {
	return filepath.Join(s.imageDir, "artifacts", idHex(id))
}

// fetchArtifact stores the blobs of the artifact ms describes, lays its
// files out in its ArtifactDir and records it. Its ID is the manifest
// digest: artifacts commonly share one empty config.
func (s *Service) fetchArtifact(ctx context.Context, rc *repoClient, r Reference, ms manifestSet, ns string) (Image, error) {
	for d, b := range ms.raw {
		if err := s.content.WriteBlob(d, b); err != nil {
			return Image{}, err
		}
	}
	cfg := ms.manifest.Config
	if !s.content.Has(cfg.Digest) {
		b, err := s.downloadSmall(ctx, rc, cfg)
		if err != nil {
			return Image{}, fmt.Errorf("artifact config: %w", err)
		}
		if err := s.content.WriteBlob(cfg.Digest, b); err != nil {
			return Image{}, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.MaxConcurrentDownloads)
	for _, l := range ms.manifest.Layers {
		g.Go(func() error { return s.sharedBlob(gctx, rc, l) })
	}
	if err := g.Wait(); err != nil {
		return Image{}, err
	}
	im := newImage(r, ms, Config{}, nil)
	im.ID, im.Artifact = ms.digest, true
	if ns != "" {
		im.Platforms = []string{ns}
	}
	if err := s.layOutArtifact(im.ID, ms.manifest.Layers); err != nil {
		return Image{}, err
	}
	return s.index.put(im)
}

// sharedBlob downloads blob d into the content store once for concurrent
// pulls; a blob already there is not fetched again.
func (s *Service) sharedBlob(ctx context.Context, rc *repoClient, d Descriptor) error {
	_, err, _ := s.layers.Do("blob/"+d.Digest, func() (any, error) {
		if s.content.Has(d.Digest) {
			return nil, nil
		}
		blob, err := rc.openBlob(ctx, d)
		if err != nil {
			return nil, err
		}
		defer blob.Close()
		w, err := s.content.Writer(d.Digest, d.Size)
		if err != nil {
			return nil, err
		}
		defer w.Abort()
		if _, err := io.Copy(w, metrics.CountingReader{R: blob}); err != nil {
			return nil, fmt.Errorf("download blob %s: %w", d.Digest, err)
		}
		return nil, w.Commit()
	})
	return err
}

// layOutArtifact makes the ArtifactDir of id: hard links to the layer blobs
// (read-only, in the same store), under a temporary name renamed into
// place, so that a crash leaves no half-made directory under its name.
func (s *Service) layOutArtifact(id string, layers []Descriptor) (retErr error) {
	final := s.ArtifactDir(id)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o711); err != nil {
		return fmt.Errorf("create artifact dir: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+idHex(id)[:12]+"-")
	if err != nil {
		return fmt.Errorf("create artifact dir: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("chmod artifact dir: %w", err)
	}
	used := map[string]bool{}
	for _, l := range layers {
		name := artifactFileName(l)
		if used[name] {
			name = idHex(l.Digest)
		}
		if used[name] {
			continue // the same blob listed twice
		}
		used[name] = true
		if err := os.Link(s.content.Path(l.Digest), filepath.Join(tmp, name)); err != nil {
			return fmt.Errorf("lay out artifact %s: %w", id, err)
		}
	}
	if err := os.Rename(tmp, final); err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("lay out artifact %s: %w", id, err)
	}
	_ = os.RemoveAll(tmp) // another pull laid it out first
	return nil
}

// artifactFileName is the title annotation of layer d when it is a plain
// file name, else the hex of its digest.
func artifactFileName(d Descriptor) string {
	t := d.Annotations[AnnotationTitle]
	if t == "" || t == "." || t == ".." || strings.ContainsAny(t, "/\x00") || len(t) > 255 {
		return idHex(d.Digest)
	}
	return t
}

// HoldArtifact lays out, for the image volume key, its own directory of
// artifact id's files: hard links to the same files, so it costs no space
// while the artifact is stored, and keeps them when RemoveImage removes
// the artifact, until ReleaseArtifact. A running container's image volume
// is thus never emptied under it: containerd's image volumes hold their
// snapshot and CRI-O bind-mounts an artifact's files one by one, so in
// both the content stays until its last user is gone, as a rootfs keeps
// its layers here (PrepareRootfs). Holding the GC lock across lookup and
// layout means a concurrent Remove cannot delete the files in between. An
// artifact that is not stored is ErrNotFound.
func (s *Service) HoldArtifact(key, id string) (string, error) {
	if err := checkHoldKey(key); err != nil {
		return "", err
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	im, err := s.index.lookup(id, "")
	if err != nil {
		return "", err
	}
	if !im.Artifact || im.ID != id {
		return "", fmt.Errorf("image %s is not the OCI artifact %s: %w", im.ID, id, errdefs.ErrInvalidArgument)
	}
	dir := s.heldArtifactDir(key)
	// A mount cut short by a crash left one: made again, from this artifact.
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove stale artifact hold %s: %w", key, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return "", fmt.Errorf("create artifact holds dir: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-"+key+"-")
	if err != nil {
		return "", fmt.Errorf("hold artifact %s for %s: %w", id, key, err)
	}
	if err := linkArtifactFiles(s.ArtifactDir(im.ID), tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("hold artifact %s for %s: %w", id, key, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("hold artifact %s for %s: %w", id, key, err)
	}
	return dir, nil
}

// ReleaseArtifact removes the hold HoldArtifact made for key; the files
// of an artifact removed meanwhile are freed with their last link. A key
// without a hold is no error.
func (s *Service) ReleaseArtifact(key string) error {
	if err := checkHoldKey(key); err != nil {
		return err
	}
	if err := os.RemoveAll(s.heldArtifactDir(key)); err != nil {
		return fmt.Errorf("release artifact hold %s: %w", key, err)
	}
	return nil
}

func (s *Service) heldArtifactDir(key string) string {
	return filepath.Join(s.imageDir, "artifact-holds", key)
}

// checkHoldKey accepts a key that is a plain file name of its own.
func checkHoldKey(key string) error {
	if key == "" || strings.HasPrefix(key, ".") || strings.ContainsAny(key, "/\x00") || len(key) > 200 {
		return fmt.Errorf("artifact hold key %q: %w", key, errdefs.ErrInvalidArgument)
	}
	return nil
}

// linkArtifactFiles hard-links every file of the artifact dir src into
// dst, which is made searchable and readable by all as the artifact's dir.
func linkArtifactFiles(src, dst string) error {
	if err := os.Chmod(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := os.Link(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// sweepArtifacts removes, at start-up, the artifact dirs no recorded
// artifact names: a crash between laying one out and recording it, or
// half-made temporary dirs (of holds too; a hold itself is its
// container's, released with its image volume).
func (s *Service) sweepArtifacts(ctx context.Context) {
	holds, _ := os.ReadDir(filepath.Join(s.imageDir, "artifact-holds"))
	for _, e := range holds {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.RemoveAll(filepath.Join(s.imageDir, "artifact-holds", e.Name()))
		}
	}
	dir := filepath.Join(s.imageDir, "artifacts")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // none yet
	}
	keep := map[string]bool{}
	for _, im := range s.index.list() {
		if im.Artifact {
			keep[idHex(im.ID)] = true
		}
	}
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			klog.FromContext(ctx).Error(err, "remove unrecorded artifact dir", "dir", e.Name())
		}
	}
}
