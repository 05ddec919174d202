package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image/sigpolicy"
	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/pkg/store"
)

// Defaults of Options.
const (
	DefaultMaxConcurrentDownloads = 3
	DefaultProgressTimeout        = time.Minute
	DefaultRegistryConfigPath     = "/etc/cricket/certs.d"
)

// Options configure a Service.
type Options struct {
	// Root is the persistent root (/var/lib/cricket); images live in
	// <Root>/images, layers in <Root>/snapshots.
	Root string
	// RegistryConfigPath is a containerd-style certs.d directory.
	RegistryConfigPath string
	// MaxConcurrentDownloads bounds parallel layer downloads per pull.
	MaxConcurrentDownloads int
	// ProgressTimeout cancels a download that receives no bytes for this
	// long; 0 means DefaultProgressTimeout, negative disables it.
	ProgressTimeout time.Duration
	// PinnedImages are references reported as pinned.
	PinnedImages []string
	// DockerConfigPath is a docker config.json with registry credentials.
	DockerConfigPath string
	// Platform is the one picked from multi-arch indexes (linux/GOARCH).
	Platform Platform
	// Unpack tunes layer extraction (Rootless is for tests only).
	Unpack snapshot.UnpackOptions
	// SignaturePolicy is checked by every pull before anything of the
	// image is stored; nil accepts every image.
	SignaturePolicy *sigpolicy.Policy
}

// Settings are what a running Service can change (SetSettings); see
// Options for their meaning.
type Settings struct {
	RegistryConfigPath     string
	DockerConfigPath       string
	MaxConcurrentDownloads int
	ProgressTimeout        time.Duration
	PinnedImages           []string
}

// live is the part of a Service that SetSettings replaces as a whole; a
// pull reads it once, when it starts.
type live struct {
	hosts        HostsConfig
	docker       dockerConfig
	clients      *clients
	maxDownloads int
	progress     time.Duration
	pinned       map[string]bool
}

// Service pulls, stores, lists and removes images.
type Service struct {
	opts     Options
	live     atomic.Pointer[live]
	content  *ContentStore
	snaps    *snapshot.Store
	index    *index
	imageDir string

	// gcMu serialises garbage collection with the registration of what
	// running pulls use (inflight: blob digest or chain ID -> pulls), so a
	// collection never deletes what a pull is fetching, and a pull that
	// starts mid-collection sees the deletions. It is never held for the
	// length of a download.
	gcMu     sync.Mutex
	inflight map[string]int
	pulls    pullGroup
	layers   singleflight.Group
	// policy is the image signature policy (nil: accept anything).
	policy atomic.Pointer[sigpolicy.Policy]
}

// New opens the image service's stores under opts.Root.
func New(ctx context.Context, opts Options) (*Service, error) {
	opts = withDefaults(opts)
	imageDir := filepath.Join(opts.Root, "images")
	content, err := OpenContentStore(filepath.Join(imageDir, "content"))
	if err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(imageDir, "metadata"))
	if err != nil {
		return nil, err
	}
	log := klog.FromContext(ctx)
	idx, err := openIndex(db, func(id string, err error) {
		log.Error(err, "skipping unreadable image record", "id", id)
	})
	if err != nil {
		return nil, err
	}
	snaps, err := snapshot.Open(filepath.Join(opts.Root, "snapshots"), opts.Unpack)
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, content: content, snaps: snaps, index: idx, imageDir: imageDir,
		inflight: map[string]int{}}
	if err := s.SetSettings(ctx, Settings{
		RegistryConfigPath: opts.RegistryConfigPath, DockerConfigPath: opts.DockerConfigPath,
		MaxConcurrentDownloads: opts.MaxConcurrentDownloads, ProgressTimeout: opts.ProgressTimeout,
		PinnedImages: opts.PinnedImages,
	}); err != nil {
		return nil, err
	}
	s.policy.Store(opts.SignaturePolicy)
	s.sweepArtifacts(ctx)
	if err := os.RemoveAll(s.importDir()); err != nil {
		log.Error(err, "remove what an interrupted import left", "dir", s.importDir())
	}
	if err := s.GC(ctx); err != nil {
		log.Error(err, "image garbage collection at start-up")
	}
	return s, nil
}

// SetSettings replaces the registry hosts directory, the credentials (the
// docker config file is read again even under the same name), the
// download limits and the pinned images. Pulls that already started finish
// with the settings they started with; the next pull uses the new ones.
// On error nothing changes.
func (s *Service) SetSettings(ctx context.Context, st Settings) error {
	docker, err := loadDockerConfig(st.DockerConfigPath)
	if err != nil {
		return err
	}
	o := withDefaults(Options{MaxConcurrentDownloads: st.MaxConcurrentDownloads, ProgressTimeout: st.ProgressTimeout})
	old := s.live.Swap(&live{
		hosts: HostsConfig{Dir: st.RegistryConfigPath}, docker: docker,
		// New clients: a CA or client certificate file may have been
		// replaced under the same name.
		clients:      &clients{},
		maxDownloads: o.MaxConcurrentDownloads,
		progress:     o.ProgressTimeout,
		pinned:       s.normalisePinned(ctx, st.PinnedImages),
	})
	if old != nil {
		old.clients.closeIdle()
	}
	return nil
}

func withDefaults(o Options) Options {
	if o.MaxConcurrentDownloads <= 0 {
		o.MaxConcurrentDownloads = DefaultMaxConcurrentDownloads
	}
	if o.ProgressTimeout == 0 {
		o.ProgressTimeout = DefaultProgressTimeout
	}
	if o.Platform.OS == "" {
		o.Platform = Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	return o
}

func (s *Service) normalisePinned(ctx context.Context, refs []string) map[string]bool {
	out := map[string]bool{}
	for _, p := range refs {
		r, err := ParseReference(p)
		if err != nil {
			klog.FromContext(ctx).Error(err, "ignoring pinned image")
			continue
		}
		out[r.String()] = true
	}
	return out
}

// Snapshots returns the layer store, for preparing container rootfs.
func (s *Service) Snapshots() *snapshot.Store { return s.snaps }

func (s *Service) withPinned(im Image) Image {
	pinned := s.live.Load().pinned
	for _, n := range append(append([]string(nil), im.RepoTags...), im.RepoDigests...) {
		if pinned[n] {
			im.Pinned = true
		}
	}
	return im
}

// namespace returns the index name space of images pulled for platform p
// (os/arch[/variant], a runtime handler's): "" for an empty p or the
// service's own platform.
func (s *Service) namespace(p string) (string, Platform, error) {
	if p == "" {
		return "", s.opts.Platform, nil
	}
	pl, err := ParsePlatform(p)
	if err != nil {
		return "", Platform{}, err
	}
	if pl == s.opts.Platform {
		return "", pl, nil
	}
	return pl.String(), pl, nil
}

// List returns every image, or with a non-empty filter the image it names
// for platform (see Pull).
func (s *Service) List(filter, platform string) []Image {
	if filter != "" {
		ns, _, err := s.namespace(platform)
		if err != nil {
			return nil
		}
		im, err := s.index.lookup(filter, ns)
		if err != nil {
			return nil
		}
		return []Image{s.withPinned(im)}
	}
	all := s.index.list()
	for i := range all {
		all[i] = s.withPinned(all[i])
	}
	return all
}

// Status returns the image ref names (ID, ID prefix, or name or digest
// reference as pulled for platform, see Pull); an unknown image is
// ErrNotFound.
func (s *Service) Status(ref, platform string) (Image, error) {
	ns, _, err := s.namespace(platform)
	if err != nil {
		return Image{}, err
	}
	im, err := s.index.lookup(ref, ns)
	if err != nil {
		return Image{}, err
	}
	return s.withPinned(im), nil
}

// Remove deletes the image ref names (for platform, see Status) with all its tags and frees content
// and layers nothing else references. A missing image is success; layers a
// container stands on stay until a later GC finds them unused.
func (s *Service) Remove(ctx context.Context, ref, platform string) error {
	ns, _, err := s.namespace(platform)
	if err != nil {
		return err
	}
	im, err := s.index.lookup(ref, ns)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if err := s.index.remove(im.ID); err != nil {
		return fmt.Errorf("remove image %s: %w", im.ID, err)
	}
	if im.Artifact {
		if err := os.RemoveAll(s.ArtifactDir(im.ID)); err != nil {
			return fmt.Errorf("remove artifact %s: %w", im.ID, err)
		}
	}
	klog.FromContext(ctx).V(2).Info("removed image", "image", im.ID)
	return s.collectLocked(ctx, im.Blobs, im.ChainIDs)
}

// GC frees every blob and layer no image references and no container
// uses. The container layer calls it after removing a rootfs.
func (s *Service) GC(ctx context.Context) error {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	blobs, err := s.content.Digests()
	if err != nil {
		return err
	}
	var chains []string
	for _, l := range s.snaps.Layers() {
		chains = append(chains, l.ChainID)
	}
	return s.collectLocked(ctx, blobs, chains)
}

// hold registers keys (blob digests, chain IDs) as used by a running pull
// until the returned release is called.
func (s *Service) hold(keys ...string) (release func()) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	for _, k := range keys {
		s.inflight[k]++
	}
	return func() {
		s.gcMu.Lock()
		defer s.gcMu.Unlock()
		for _, k := range keys {
			if s.inflight[k]--; s.inflight[k] <= 0 {
				delete(s.inflight, k)
			}
		}
	}
}

// collectLocked deletes those of blobs and chains that no image references
// and no running pull uses.
func (s *Service) collectLocked(ctx context.Context, blobs, chains []string) error {
	usedBlobs, usedChains := s.index.references()
	var errs []error
	for _, b := range blobs {
		if !usedBlobs[b] && s.inflight[b] == 0 {
			errs = append(errs, s.content.Delete(b))
		}
	}
	for i := len(chains) - 1; i >= 0; i-- {
		if usedChains[chains[i]] || s.inflight[chains[i]] > 0 {
			continue
		}
		err := s.snaps.RemoveLayer(chains[i])
		if errdefs.IsFailedPrecondition(err) {
			klog.FromContext(ctx).V(2).Info("keeping layer used by a container", "chainID", chains[i])
			continue
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// FsUsage is the space used on one filesystem.
type FsUsage struct {
	Mountpoint string
	Timestamp  time.Time
	UsedBytes  uint64
	Inodes     uint64
}

// FsInfo reports the real usage of the image store (blobs, metadata and
// unpacked layers) and of the containers' writable layers.
func (s *Service) FsInfo() (images, containers FsUsage, err error) {
	now := time.Now()
	meta, err := snapshot.DiskUsage(s.imageDir)
	if err != nil {
		return FsUsage{}, FsUsage{}, err
	}
	layers, err := s.snaps.LayersUsage()
	if err != nil {
		return FsUsage{}, FsUsage{}, err
	}
	active, err := s.snaps.ActiveUsage()
	if err != nil {
		return FsUsage{}, FsUsage{}, err
	}
	images = FsUsage{Mountpoint: s.imageDir, Timestamp: now,
		UsedBytes: meta.Bytes + layers.Bytes, Inodes: meta.Inodes + layers.Inodes}
	containers = FsUsage{Mountpoint: s.snaps.Root(), Timestamp: now, UsedBytes: active.Bytes, Inodes: active.Inodes}
	return images, containers, nil
}
