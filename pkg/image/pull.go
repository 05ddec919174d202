package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/metrics"
	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/pkg/tracing"
)

// Pull fetches ref (with optional CRI credentials), unpacks its layers and
// records it; it returns the image, whose ID is its config digest.
// platform (os/arch[/variant], a runtime handler's; "" for the service's
// own) picks the manifest of a multi-arch index, and the image's names
// live in that platform's name space: an image pulled for another
// platform is another image, as containerd keeps them per runtime
// handler. Concurrent pulls of the same reference and platform share one
// download. ctx bounds this caller's wait; the shared pull stops when
// every caller has gone.
func (s *Service) Pull(ctx context.Context, ref string, auth *AuthConfig, platform string) (_ Image, err error) {
	ctx, span := tracing.Start(ctx, tracing.SpanImagePull, attribute.String("image.ref", ref))
	defer tracing.End(span, &err)
	r, err := ParseReference(ref)
	if err != nil {
		return Image{}, err
	}
	ns, pl, err := s.namespace(platform)
	if err != nil {
		return Image{}, err
	}
	start := time.Now()
	im, err := s.pulls.do(ctx, nameKey(ns, r.String()), func(ctx context.Context) (Image, error) {
		return s.pull(ctx, r, auth, pl, ns)
	})
	result := "ok"
	if err != nil {
		result = "error"
	}
	metrics.PullDuration.WithLabelValues(result).Observe(time.Since(start).Seconds())
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", r, err)
	}
	return s.withPinned(im), nil
}

// manifestSet is what resolving a reference yields.
type manifestSet struct {
	top      string            // digest the reference resolved to
	digest   string            // digest of the platform's manifest
	manifest Manifest          // the platform's manifest
	raw      map[string][]byte // digest -> index and manifest bodies
}

func (s *Service) pull(ctx context.Context, r Reference, auth *AuthConfig, pl Platform, ns string) (im Image, err error) {
	log := klog.FromContext(ctx).WithValues("image", r.String())
	rc, err := s.repoClient(r, auth)
	if err != nil {
		return Image{}, err
	}
	ms, err := s.resolve(ctx, rc, r, pl)
	if err != nil {
		return Image{}, err
	}
	if err := s.verifySignatures(ctx, rc, r, ms); err != nil {
		log.Error(err, "image refused by the signature policy")
		return Image{}, err
	}
	used := ms.blobs()
	release := s.hold(used...)
	defer func() {
		release()
		if err != nil {
			s.cleanupFailed(ctx, used)
		}
	}()
	if ms.manifest.IsArtifact() {
		im, err = s.fetchArtifact(ctx, rc, r, ms, ns)
		return im, err
	}
	cfg, err := s.fetchConfig(ctx, rc, ms.manifest)
	if err != nil {
		return Image{}, err
	}
	chains := ChainIDs(cfg.RootFS.DiffIDs)
	defer s.hold(chains...)()
	used = append(used, chains...)
	for d, b := range ms.raw {
		if err := s.content.WriteBlob(d, b); err != nil {
			return Image{}, err
		}
	}
	if err := s.fetchLayers(ctx, rc.openBlob, rc.maxDownloads, ms.manifest.Layers, cfg.RootFS.DiffIDs, chains); err != nil {
		return Image{}, err
	}
	im = newImage(r, ms, cfg, chains)
	if ns != "" {
		im.Platforms = []string{ns}
	}
	log.V(2).Info("pulled image", "id", im.ID)
	return s.index.put(im)
}

// CheckpointAnnotations mark an image made from a container checkpoint
// archive (its one layer holding the archive's files), valued with the
// checkpointed container's name: CRI-O's, which buildah users set
// (`buildah config --annotation`), and checkpointctl's (`checkpointctl
// build`), which containerd looks for.
var CheckpointAnnotations = []string{"io.kubernetes.cri-o.annotations.checkpoint.name", metadata.CheckpointAnnotationName}

// checkpointName returns the checkpointed container's name when the
// manifest, or the index the reference resolved to, carries a checkpoint
// annotation (CRI-O reads the manifest's, containerd the top one's).
func (ms manifestSet) checkpointName() string {
	sets := []map[string]string{ms.manifest.Annotations}
	if ms.top != ms.digest {
		var idx Index
		if err := json.Unmarshal(ms.raw[ms.top], &idx); err == nil {
			sets = append(sets, idx.Annotations)
		}
	}
	for _, a := range sets {
		for _, k := range CheckpointAnnotations {
			if v := a[k]; v != "" {
				return v
			}
		}
	}
	return ""
}

// blobs lists every blob digest of the set: indexes, manifest, config, layers.
func (ms manifestSet) blobs() []string {
	var out []string
	for d := range ms.raw {
		out = append(out, d)
	}
	out = append(out, ms.manifest.Config.Digest)
	for _, l := range ms.manifest.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func newImage(r Reference, ms manifestSet, cfg Config, chains []string) Image {
	im := imageRecord(ms, cfg, chains)
	if r.Tag != "" {
		im.RepoTags = []string{r.Repo() + ":" + r.Tag}
	}
	im.RepoDigests = []string{r.Repo() + "@" + ms.top}
	return im
}

// imageRecord is the record of the image ms describes, without names.
func imageRecord(ms manifestSet, cfg Config, chains []string) Image {
	im := Image{ID: ms.manifest.Config.Digest, Config: cfg, ChainIDs: chains, Size: ms.manifest.Config.Size, Checkpoint: ms.checkpointName()}
	for d := range ms.raw {
		im.Blobs = append(im.Blobs, d)
	}
	im.Blobs = append(im.Blobs, ms.manifest.Config.Digest)
	for _, l := range ms.manifest.Layers {
		im.Layers = append(im.Layers, l.Digest)
		im.Blobs = append(im.Blobs, l.Digest)
		im.Size += l.Size
	}
	return im
}

// cleanupFailed frees what a failed pull wrote and nothing else uses.
func (s *Service) cleanupFailed(ctx context.Context, used []string) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if err := s.collectLocked(ctx, used, used); err != nil {
		klog.FromContext(ctx).Error(err, "clean up after failed pull")
	}
}

func (s *Service) repoClient(r Reference, auth *AuthConfig) (*repoClient, error) {
	lv := s.live.Load()
	hosts, err := lv.hosts.Hosts(r.Domain)
	if err != nil {
		return nil, err
	}
	progress := lv.progress
	if progress < 0 {
		progress = 0
	}
	return &repoClient{
		clients: lv.clients, registry: r.Domain, path: r.Path, hosts: hosts, progress: progress,
		maxDownloads: lv.maxDownloads,
		tokens:       map[string]string{},
		creds: func(host string) (credentials, error) {
			return selectCredentials(auth, lv.docker, r.Domain, host)
		},
	}, nil
}

// resolve fetches the manifest r names, following an index to the
// manifest of platform pl.
func (s *Service) resolve(ctx context.Context, rc *repoClient, r Reference, pl Platform) (_ manifestSet, err error) {
	ctx, span := tracing.Start(ctx, tracing.SpanImageResolve)
	defer tracing.End(span, &err)
	want := CapResolve
	if r.Digest != "" {
		want = CapPull
	}
	body, mediaType, err := s.fetchManifest(ctx, rc, want, r.Object(), Descriptor{Digest: r.Digest})
	if err != nil {
		return manifestSet{}, err
	}
	ms := manifestSet{top: Digest(body), digest: Digest(body), raw: map[string][]byte{Digest(body): body}}
	if IsIndex(mediaType) {
		idx, err := ParseIndex(body)
		if err != nil {
			return manifestSet{}, err
		}
		d, err := SelectPlatform(idx, pl)
		if err != nil {
			return manifestSet{}, err
		}
		if body, _, err = s.fetchManifest(ctx, rc, CapPull, d.Digest, d); err != nil {
			return manifestSet{}, err
		}
		ms.raw[d.Digest], ms.digest = body, d.Digest
	}
	ms.manifest, err = ParseManifest(body)
	return ms, err
}

// fetchManifest GETs a manifest, bounded in size and checked against the
// digest (and size) of want when those are known.
func (s *Service) fetchManifest(ctx context.Context, rc *repoClient, capability Capabilities, object string, want Descriptor) ([]byte, string, error) {
	res, err := rc.fetch(ctx, capability, "manifests", object, acceptManifests)
	if err != nil {
		return nil, "", err
	}
	defer res.body.Close()
	body, err := io.ReadAll(io.LimitReader(res.body, MaxManifestSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("read manifest %s: %w", object, err)
	}
	if len(body) > MaxManifestSize {
		return nil, "", invalid("manifest %s exceeds %d bytes", object, MaxManifestSize)
	}
	if want.Digest != "" && Digest(body) != want.Digest {
		return nil, "", invalid("manifest digest mismatch: want %s, got %s", want.Digest, Digest(body))
	}
	if want.Size > 0 && int64(len(body)) != want.Size {
		return nil, "", invalid("manifest %s is %d bytes, descriptor says %d", object, len(body), want.Size)
	}
	return body, sniffMediaType(body, res.resp.Header.Get("Content-Type")), nil
}

// fetchConfig reads, verifies, parses and stores the image config.
func (s *Service) fetchConfig(ctx context.Context, rc *repoClient, m Manifest) (Config, error) {
	d := m.Config
	b, err := s.content.ReadBlob(d.Digest, MaxConfigSize)
	if err != nil {
		if b, err = s.downloadSmall(ctx, rc, d); err != nil {
			return Config{}, err
		}
	}
	cfg, err := ParseConfig(b, len(m.Layers))
	if err != nil {
		return Config{}, err
	}
	return cfg, s.content.WriteBlob(d.Digest, b)
}

func (s *Service) downloadSmall(ctx context.Context, rc *repoClient, d Descriptor) ([]byte, error) {
	res, err := rc.fetch(ctx, CapPull, "blobs", d.Digest, nil)
	if err != nil {
		return nil, err
	}
	defer res.body.Close()
	b, err := io.ReadAll(io.LimitReader(res.body, d.Size+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d.Digest, err)
	}
	if int64(len(b)) != d.Size {
		return nil, invalid("blob %s is %d bytes, descriptor says %d", d.Digest, len(b), d.Size)
	}
	if Digest(b) != d.Digest {
		return nil, invalid("blob digest mismatch: want %s, got %s", d.Digest, Digest(b))
	}
	return b, nil
}

// openBlobFunc opens the body of a layer blob: a registry download, or a
// file of an imported archive.
type openBlobFunc func(ctx context.Context, d Descriptor) (io.ReadCloser, error)

// fetchLayers downloads and unpacks the layers, at most limit at once;
// each is streamed from open through the digest check into its layer dir.
func (s *Service) fetchLayers(ctx context.Context, open openBlobFunc, limit int, layers []Descriptor, diffIDs, chains []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range layers {
		parent := ""
		if i > 0 {
			parent = chains[i-1]
		}
		g.Go(func() error {
			return s.sharedLayer(ctx, open, layers[i], diffIDs[i], chains[i], parent)
		})
	}
	return g.Wait()
}

// sharedLayer runs ensureLayer once for concurrent pulls of the same layer.
// The download runs on the context of the pull that started it; when that
// pull was cancelled but this one was not, this one tries again itself.
func (s *Service) sharedLayer(ctx context.Context, open openBlobFunc, d Descriptor, diffID, chain, parent string) error {
	var err error
	for range 2 {
		_, err, _ = s.layers.Do(d.Digest+"/"+chain, func() (any, error) {
			return nil, s.ensureLayer(ctx, open, d, diffID, chain, parent)
		})
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return err
}

// ensureLayer makes both the blob and the unpacked layer exist, doing only
// the part that is missing.
func (s *Service) ensureLayer(ctx context.Context, open openBlobFunc, d Descriptor, diffID, chain, parent string) error {
	haveBlob, haveLayer := s.content.Has(d.Digest), s.snaps.Has(chain)
	switch {
	case haveBlob && haveLayer:
		return nil
	case haveBlob:
		f, err := os.Open(s.content.Path(d.Digest))
		if err != nil {
			return fmt.Errorf("open blob %s: %w", d.Digest, err)
		}
		defer f.Close()
		return s.unpack(ctx, f, diffID, chain, parent, nil)
	}
	blob, err := open(ctx, d)
	if err != nil {
		return err
	}
	defer blob.Close()
	body := metrics.CountingReader{R: blob}
	w, err := s.content.Writer(d.Digest, d.Size)
	if err != nil {
		return err
	}
	defer w.Abort()
	if haveLayer {
		if _, err := io.Copy(w, body); err != nil {
			return fmt.Errorf("download layer %s: %w", d.Digest, err)
		}
		return w.Commit()
	}
	return s.unpack(ctx, io.TeeReader(body, w), diffID, chain, parent, w)
}

// unpack decompresses r into the layer chain, checking the uncompressed
// digest against diffID and, when blob is set, the download against its
// digest, before either becomes visible.
func (s *Service) unpack(ctx context.Context, r io.Reader, diffID, chain, parent string, blob *Writer) (err error) {
	ctx, span := tracing.Start(ctx, tracing.SpanImageUnpack, attribute.String("image.layer.diff_id", diffID),
		attribute.Bool("image.layer.download", blob != nil))
	defer tracing.End(span, &err)
	dr, err := snapshot.Decompress(r)
	if err != nil {
		return err
	}
	defer dr.Close()
	h := sha256.New()
	tr := io.TeeReader(dr, h)
	return s.snaps.Apply(ctx, chain, parent, tr, func() error {
		// Drain what the tar reader left: end-of-archive padding and
		// the compression trailer are covered by the digests too.
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if blob != nil {
			if err := blob.Verify(); err != nil {
				return err
			}
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
			return invalid("layer diff id mismatch: want %s, got %s", diffID, got)
		}
		if blob != nil {
			return blob.Commit()
		}
		return nil
	})
}
