// Package snapshot is Cricket's overlayfs layer store. Each image layer is
// unpacked once per chain ID into <root>/snapshots/<n>/fs and shared by every
// image that has it; a container's rootfs is an overlay of those read-only
// dirs under a writable upper dir prepared here.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/store"
)

const (
	layersBucket = "layers"
	activeBucket = "active"
	recVersion   = 1
)

// Layer is the record of one committed, read-only layer.
type Layer struct {
	// ChainID identifies the layer stack ending in this layer (OCI image spec).
	ChainID string `json:"chainID"`
	// Parent is the chain ID below this one, empty for a base layer.
	Parent string `json:"parent,omitempty"`
	// N names the layer's directory, <root>/snapshots/<N>; numbers keep
	// overlay mount options short.
	N int64 `json:"n"`
	// Size is the bytes of file content unpacked.
	Size int64 `json:"size"`
}

// Active is the record of a writable snapshot prepared for a container.
type Active struct {
	Key    string `json:"key"`
	Parent string `json:"parent,omitempty"`
	N      int64  `json:"n"`
}

// Store manages layer and writable snapshot directories under one root.
type Store struct {
	root  string
	db    *store.Store
	opts  UnpackOptions
	next  atomic.Int64
	mu    sync.Mutex // guards layers and active
	layer map[string]Layer
	act   map[string]Active
}

// Open loads the snapshot store under root, removing unpacks that a crash
// interrupted and directories no record owns.
func Open(root string, opts UnpackOptions) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("create snapshot dir: %w", err)
	}
	db, err := store.Open(filepath.Join(root, "metadata"))
	if err != nil {
		return nil, err
	}
	s := &Store{root: root, db: db, opts: opts, layer: map[string]Layer{}, act: map[string]Active{}}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, s.removeStrays()
}

func (s *Store) load() error {
	err := s.db.Walk(layersBucket, func(_ string, _ int, decode func(any) error) error {
		var l Layer
		if err := decode(&l); err != nil {
			return err
		}
		s.layer[l.ChainID] = l
		s.bumpNext(l.N)
		return nil
	}, nil)
	if err != nil {
		return err
	}
	return s.db.Walk(activeBucket, func(_ string, _ int, decode func(any) error) error {
		var a Active
		if err := decode(&a); err != nil {
			return err
		}
		s.act[a.Key] = a
		s.bumpNext(a.N)
		return nil
	}, nil)
}

func (s *Store) bumpNext(n int64) {
	for {
		cur := s.next.Load()
		if n <= cur || s.next.CompareAndSwap(cur, n) {
			return
		}
	}
}

// removeStrays deletes snapshot dirs without a record: temporary unpacks and
// commits that a crash cut short.
func (s *Store) removeStrays() error {
	entries, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil {
		return fmt.Errorf("read snapshot dir: %w", err)
	}
	owned := map[string]bool{}
	for _, l := range s.layer {
		owned[strconv.FormatInt(l.N, 10)] = true
	}
	for _, a := range s.act {
		owned[strconv.FormatInt(a.N, 10)] = true
	}
	for _, e := range entries {
		if !owned[e.Name()] {
			_ = os.RemoveAll(filepath.Join(s.root, "snapshots", e.Name()))
		}
	}
	return nil
}

// Root returns the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) dir(n int64) string {
	return filepath.Join(s.root, "snapshots", strconv.FormatInt(n, 10))
}

// Has reports whether the layer with chainID is committed.
func (s *Store) Has(chainID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.layer[chainID]
	return ok
}

// Layers returns every committed layer.
func (s *Store) Layers() []Layer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Layer, 0, len(s.layer))
	for _, l := range s.layer {
		out = append(out, l)
	}
	return out
}

// LayerDir returns the unpacked fs dir of the committed layer chainID.
func (s *Store) LayerDir(chainID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layer[chainID]
	if !ok {
		return "", fmt.Errorf("layer %s: %w", chainID, errdefs.ErrNotFound)
	}
	return filepath.Join(s.dir(l.N), "fs"), nil
}

// Apply unpacks the uncompressed layer tar r as the layer chainID on top of
// parent. The unpack goes to a private dir that becomes visible only once
// commit (called with the unpacked size) succeeds, so a failed or hostile
// layer leaves nothing behind. Committing an existing chainID is a no-op.
func (s *Store) Apply(ctx context.Context, chainID, parent string, r io.Reader, verify func() error) error {
	if err := checkID(chainID); err != nil {
		return err
	}
	if s.Has(chainID) {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	n := s.next.Add(1)
	dir := s.dir(n)
	if err := os.MkdirAll(filepath.Join(dir, "fs"), 0o755); err != nil {
		return fmt.Errorf("create layer dir: %w", err)
	}
	size, err := Unpack(ctx, filepath.Join(dir, "fs"), r, s.opts)
	if err == nil && verify != nil {
		err = verify()
	}
	if err == nil {
		err = s.commit(Layer{ChainID: chainID, Parent: parent, N: n, Size: size})
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		if errors.Is(err, errLost) {
			return nil
		}
		return fmt.Errorf("unpack layer %s: %w", chainID, err)
	}
	return nil
}

func (s *Store) commit(l Layer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.layer[l.ChainID]; ok {
		return errLost // a concurrent unpack of the same chain won
	}
	if err := syncTree(s.dir(l.N)); err != nil {
		return err
	}
	if err := s.db.Put(layersBucket, idOf(l.ChainID), recVersion, l); err != nil {
		return err
	}
	s.layer[l.ChainID] = l
	return nil
}

var errLost = errors.New("layer committed concurrently")

// syncTree flushes the unpacked files before the record names them, so a
// crash never leaves a committed layer with lost contents.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// checkID accepts "sha256:<hex>" digests only.
func checkID(chainID string) error {
	hex, ok := strings.CutPrefix(chainID, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return fmt.Errorf("chain id %q: %w", chainID, errdefs.ErrInvalidArgument)
	}
	return nil
}

func idOf(chainID string) string { return strings.TrimPrefix(chainID, "sha256:") }

// RemoveLayer deletes the committed layer chainID unless an active snapshot
// stands on it (FailedPrecondition). A missing layer is success.
func (s *Store) RemoveLayer(chainID string) error {
	s.mu.Lock()
	l, ok := s.layer[chainID]
	if !ok {
		s.mu.Unlock()
		return nil
	}
	if s.inUseLocked(chainID) {
		s.mu.Unlock()
		return fmt.Errorf("layer %s is used by a container: %w", chainID, errdefs.ErrFailedPrecondition)
	}
	delete(s.layer, chainID)
	s.mu.Unlock()
	if err := s.db.Delete(layersBucket, idOf(chainID)); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir(l.N)); err != nil {
		return fmt.Errorf("remove layer dir %s: %w", s.dir(l.N), err)
	}
	return nil
}

// InUse reports whether an active snapshot stands on chainID.
func (s *Store) InUse(chainID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUseLocked(chainID)
}

func (s *Store) inUseLocked(chainID string) bool {
	for _, a := range s.act {
		for p := a.Parent; p != ""; p = s.layer[p].Parent {
			if p == chainID {
				return true
			}
		}
	}
	return false
}
