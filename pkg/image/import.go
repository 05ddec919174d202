package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// Annotations of an OCI layout's index that name an image: containerd's
// and Docker's full reference, and the OCI one (a full reference or, from
// some tools, a bare tag, which names nothing here).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationOCIRefName     = "org.opencontainers.image.ref.name"
)

// ImportOptions select what Import takes from an archive.
type ImportOptions struct {
	// Platform (os/arch[/variant]) picks the manifest of multi-arch
	// indexes, and the name space the images are recorded in (see Pull);
	// "" is the service's own.
	Platform string
	// AllPlatforms imports every platform of an index, each in its
	// platform's name space; a single-platform image of another platform
	// than Platform is then imported too instead of refused.
	AllPlatforms bool
}

// importSource is one image of an archive.
type importSource struct {
	// names are the references the archive gives the image.
	names []Reference
	// ms holds the manifest (and the index the names point at), as the
	// image will be recorded; for a docker archive Import writes the
	// manifest once the layers are in.
	ms manifestSet
	// config is the raw image config.
	config []byte
	// open reads a layer blob of the manifest.
	open openBlobFunc
	// docker marks an image of a docker archive: its layers are the
	// uncompressed tars, its manifest is made by Import.
	docker bool
	// picked is the platform of the index entry the image was picked
	// by; nil for an image not from an index.
	picked *Platform
}

// Import records every image of the archive at path (chosen by opts),
// with the names the archive gives them, as if pulled: an OCI image
// layout directory, a tar of one (an OCI archive), or a docker archive
// (`docker save`, also with an OCI layout inside), each possibly
// gzip-compressed. It needs no registry. The images are returned in the
// archive's order; on error, images recorded before it stay.
func (s *Service) Import(ctx context.Context, path string, opts ImportOptions) ([]Image, error) {
	if err := os.MkdirAll(s.importDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create import dir: %w", err)
	}
	scratch, err := os.MkdirTemp(s.importDir(), "import-")
	if err != nil {
		return nil, fmt.Errorf("create import scratch dir: %w", err)
	}
	defer os.RemoveAll(scratch)
	sel, err := s.importSelection(opts)
	if err != nil {
		return nil, err
	}
	srcs, err := readArchive(path, scratch, sel)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	var out []Image
	for _, src := range srcs {
		im, err := s.importImage(ctx, src, sel)
		if err != nil {
			return out, fmt.Errorf("import %s: %w", path, err)
		}
		out = append(out, s.withPinned(im))
	}
	return out, nil
}

// ImportReader imports the archive (a tar, not a layout directory) read
// from r, as Import does; the archive is first copied below the image
// directory, since its parts are read in an order of their own.
func (s *Service) ImportReader(ctx context.Context, r io.Reader, opts ImportOptions) ([]Image, error) {
	if err := os.MkdirAll(s.importDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create import dir: %w", err)
	}
	f, err := os.CreateTemp(s.importDir(), "stream-*.tar")
	if err != nil {
		return nil, fmt.Errorf("create import file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return nil, fmt.Errorf("receive archive: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("receive archive: %w", err)
	}
	return s.Import(ctx, f.Name(), opts)
}

// importDir is where Import unpacks archives; New empties it, as what a
// crash left there is of no use.
func (s *Service) importDir() string { return filepath.Join(s.imageDir, "import") }

// importImage stores the blobs and layers of src and records it under its
// names in the name space of its platform.
func (s *Service) importImage(ctx context.Context, src importSource, sel selection) (im Image, err error) {
	log := klog.FromContext(ctx)
	cfg, err := ParseConfig(src.config, len(src.ms.manifest.Layers))
	if err != nil {
		return Image{}, err
	}
	ns, err := s.importNamespace(cfg, src.picked, sel)
	if err != nil {
		return Image{}, err
	}
	chains := ChainIDs(cfg.RootFS.DiffIDs)
	used := append(src.ms.blobs(), chains...)
	release := s.hold(used...)
	defer func() {
		release()
		if err != nil {
			s.cleanupFailed(ctx, used)
		}
	}()
	if err := s.content.WriteBlob(src.ms.manifest.Config.Digest, src.config); err != nil {
		return Image{}, err
	}
	// Layers are read from a local file: one at a time keeps the disk
	// streaming.
	if err := s.fetchLayers(ctx, src.open, 1, src.ms.manifest.Layers, cfg.RootFS.DiffIDs, chains); err != nil {
		return Image{}, err
	}
	if src.docker {
		if src.ms, err = s.dockerManifest(src.ms); err != nil {
			return Image{}, err
		}
		defer s.hold(src.ms.top)()
		used = append(used, src.ms.top)
	}
	for d, b := range src.ms.raw {
		if err := s.content.WriteBlob(d, b); err != nil {
			return Image{}, err
		}
	}
	im = imageRecord(src.ms, cfg, chains)
	for _, r := range src.names {
		if r.Tag != "" {
			im.RepoTags = append(im.RepoTags, r.Repo()+":"+r.Tag)
		}
		im.RepoDigests = mergeNames(im.RepoDigests, []string{r.Repo() + "@" + src.ms.top})
	}
	if ns != "" {
		im.Platforms = []string{ns}
	}
	log.V(2).Info("imported image", "id", im.ID, "names", im.RepoTags)
	return s.index.put(im)
}

// importNamespace is the name space of an image whose config is cfg, or
// picked from an index for the platform picked (nil otherwise): the one
// asked for when it matches (as Pull records), else its own platform's,
// which only an import of every platform takes.
func (s *Service) importNamespace(cfg Config, picked *Platform, sel selection) (string, error) {
	pl := Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if picked != nil {
		pl = *picked
	}
	if sel.matches(pl) {
		ns, _, err := s.namespace(sel.platform.String())
		return ns, err
	}
	if !sel.all {
		return "", invalid("the image is for %s, not %s: choose its platform or all platforms", pl, sel.platform)
	}
	ns, _, err := s.namespace(pl.String())
	return ns, err
}

// dockerManifest completes the manifest made for an image of a docker
// archive: its layer blobs are in the store now, and their sizes known.
func (s *Service) dockerManifest(ms manifestSet) (manifestSet, error) {
	for i, l := range ms.manifest.Layers {
		fi, err := os.Stat(s.content.Path(l.Digest))
		if err != nil {
			return manifestSet{}, fmt.Errorf("stat layer blob %s: %w", l.Digest, err)
		}
		ms.manifest.Layers[i].Size = fi.Size()
	}
	b, err := json.Marshal(ms.manifest)
	if err != nil {
		return manifestSet{}, fmt.Errorf("encode manifest: %w", err)
	}
	if ms.manifest, err = ParseManifest(b); err != nil {
		return manifestSet{}, err
	}
	ms.top, ms.digest, ms.raw = Digest(b), Digest(b), map[string][]byte{Digest(b): b}
	return ms, nil
}

// readArchive lists the images of the archive at path that opts select,
// unpacking what needs it below scratch.
func readArchive(path, scratch string, sel selection) ([]importSource, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat archive: %w", err)
	}
	if fi.IsDir() {
		return readLayout(path, sel)
	}
	file, err := plainTar(path, scratch)
	if err != nil {
		return nil, err
	}
	kind, err := archiveKind(file)
	if err != nil {
		return nil, err
	}
	switch kind {
	case archiveOCI:
		dir := filepath.Join(scratch, "layout")
		if err := extractLayout(file, dir); err != nil {
			return nil, err
		}
		return readLayout(dir, sel)
	default:
		return readDockerArchive(file)
	}
}

// selection is which platforms of an archive to import.
type selection struct {
	platform Platform
	all      bool
}

func (s *Service) importSelection(opts ImportOptions) (selection, error) {
	_, pl, err := s.namespace(opts.Platform)
	if err != nil {
		return selection{}, err
	}
	return selection{platform: pl, all: opts.AllPlatforms}, nil
}

// matches reports whether platform p (of an image's config or index
// entry) is the one selected; an image of no known platform is.
func (sel selection) matches(p Platform) bool {
	if p.OS == "" || p.Architecture == "" {
		return true
	}
	return p.OS == sel.platform.OS && p.Architecture == sel.platform.Architecture &&
		(p.Variant == "" || sel.platform.Variant == "" || p.Variant == sel.platform.Variant)
}

// readLayout lists the images of the OCI image layout at dir: each entry
// of its index.json is an image, or an index whose selected platforms are.
func readLayout(dir string, sel selection) ([]importSource, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, invalid("%s is not an OCI image layout: no oci-layout file", dir)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, invalid("%s is not an OCI image layout: %v", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read index.json: %w", err)
	}
	raw, err := top.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read index.json: %w", err)
	}
	idx, err := ParseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var out []importSource
	for _, d := range idx.Manifests {
		names := layoutNames(d.Annotations)
		srcs, err := layoutEntry(top, d, names, sel)
		if err != nil {
			return nil, err
		}
		out = append(out, srcs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no image for platform %s in the layout: %w", sel.platform, errdefs.ErrNotFound)
	}
	return out, nil
}

// layoutNames are the references an index.json entry's annotations give.
func layoutNames(a map[string]string) []Reference {
	for _, key := range []string{annotationContainerdName, annotationOCIRefName} {
		r, err := ParseReference(a[key])
		if a[key] == "" || err != nil || !isFullReference(a[key]) {
			continue
		}
		return []Reference{r}
	}
	return nil
}

// isFullReference tells a name with a repository from a bare tag such as
// "latest", which ParseReference would take for a Docker Hub repository.
func isFullReference(s string) bool {
	for _, c := range s {
		if c == '/' || c == ':' || c == '@' {
			return true
		}
	}
	return false
}

// layoutEntry is the image d (an entry of parent) names, or the selected
// images of the index it names.
func layoutEntry(parent v1.ImageIndex, d Descriptor, names []Reference, sel selection) ([]importSource, error) {
	h, err := v1.NewHash(d.Digest)
	if err != nil {
		return nil, invalid("digest %q: %v", d.Digest, err)
	}
	if !IsIndex(d.MediaType) {
		src, err := layoutImage(parent, h, d, names, nil)
		if err != nil {
			return nil, err
		}
		return []importSource{src}, nil
	}
	child, err := parent.ImageIndex(h)
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", d.Digest, err)
	}
	raw, err := child.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", d.Digest, err)
	}
	if Digest(raw) != d.Digest {
		return nil, invalid("index digest mismatch: want %s, got %s", d.Digest, Digest(raw))
	}
	idx, err := ParseIndex(raw)
	if err != nil {
		return nil, err
	}
	picked := idx.Manifests
	if !sel.all {
		one, err := SelectPlatform(idx, sel.platform)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		picked = []Descriptor{one}
	}
	var out []importSource
	for _, m := range picked {
		if m.Platform == nil || m.Platform.OS == "unknown" || IsIndex(m.MediaType) {
			// Attestations (buildkit's unknown/unknown) and nested
			// indexes are not images of a platform.
			continue
		}
		mh, err := v1.NewHash(m.Digest)
		if err != nil {
			return nil, invalid("digest %q: %v", m.Digest, err)
		}
		src, err := layoutImage(child, mh, m, names, m.Platform)
		if err != nil {
			return nil, err
		}
		src.ms.top, src.ms.raw[d.Digest] = d.Digest, raw
		out = append(out, src)
	}
	return out, nil
}

// layoutImage reads the manifest and config of image h of idx, checked
// against their digests; its layers are read when imported.
func layoutImage(idx v1.ImageIndex, h v1.Hash, d Descriptor, names []Reference, picked *Platform) (importSource, error) {
	img, err := idx.Image(h)
	if err != nil {
		return importSource{}, fmt.Errorf("read image %s: %w", d.Digest, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return importSource{}, fmt.Errorf("read manifest %s: %w", d.Digest, err)
	}
	if Digest(raw) != d.Digest {
		return importSource{}, invalid("manifest digest mismatch: want %s, got %s", d.Digest, Digest(raw))
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return importSource{}, err
	}
	if m.IsArtifact() {
		return importSource{}, invalid("%s is an OCI artifact, not an image: import takes images only", d.Digest)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return importSource{}, fmt.Errorf("read config %s: %w", m.Config.Digest, err)
	}
	if Digest(config) != m.Config.Digest {
		return importSource{}, invalid("config digest mismatch: want %s, got %s", m.Config.Digest, Digest(config))
	}
	open := func(_ context.Context, l Descriptor) (io.ReadCloser, error) {
		lh, err := v1.NewHash(l.Digest)
		if err != nil {
			return nil, invalid("digest %q: %v", l.Digest, err)
		}
		layer, err := img.LayerByDigest(lh)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, fmt.Errorf("open layer %s: %w", l.Digest, err)
		}
		return rc, nil
	}
	ms := manifestSet{top: d.Digest, digest: d.Digest, manifest: m, raw: map[string][]byte{d.Digest: raw}}
	return importSource{names: names, ms: ms, config: config, open: open, picked: picked}, nil
}
