package image

import (
	"context"

	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// PrepareRootfs creates the writable snapshot key on top of the layers of
// image ref and returns how to mount it with the image it stands on. The
// snapshot is the container's hold on those layers: RemoveImage keeps them
// until RemoveRootfs. Holding the GC lock across lookup and prepare means a
// concurrent RemoveImage cannot free the layers in between.
func (s *Service) PrepareRootfs(key, ref string) (snapshot.Mount, Image, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	im, err := s.index.lookup(ref, "")
	if err != nil {
		return snapshot.Mount{}, Image{}, err
	}
	m, err := s.snaps.Prepare(key, im.TopChainID())
	if err != nil {
		return snapshot.Mount{}, Image{}, err
	}
	return m, s.withPinned(im), nil
}

// RemoveRootfs deletes the writable snapshot key (the caller unmounted it)
// and frees layers that only it still held. A missing key is success.
func (s *Service) RemoveRootfs(ctx context.Context, key string) error {
	if err := s.snaps.Remove(key); err != nil {
		return err
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	var chains []string
	for _, l := range s.snaps.Layers() {
		chains = append(chains, l.ChainID)
	}
	return s.collectLocked(ctx, nil, chains)
}
