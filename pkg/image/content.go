package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// ContentStore keeps blobs by digest in an OCI image layout
// (<root>/blobs/sha256/<hex>). Downloads are written under <root>/ingest and
// renamed into blobs/ only after their size and digest check out, so a
// partial or lying blob is never visible as content.
type ContentStore struct {
	root string
}

// OpenContentStore creates the layout under root and discards partial
// downloads a previous run left behind (they restart from zero).
func OpenContentStore(root string) (*ContentStore, error) {
	for _, d := range []string{"blobs/sha256", "ingest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("create content dir: %w", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(root, "ingest")); err != nil {
		return nil, fmt.Errorf("clear ingest dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "ingest"), 0o700); err != nil {
		return nil, fmt.Errorf("create ingest dir: %w", err)
	}
	layout := filepath.Join(root, "oci-layout")
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(layout, []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o600); err != nil {
			return nil, fmt.Errorf("write oci-layout: %w", err)
		}
	}
	return &ContentStore{root: root}, nil
}

// Root returns the store's directory.
func (c *ContentStore) Root() string { return c.root }

// Path returns where the blob dgst lives (whether or not it exists).
func (c *ContentStore) Path(dgst string) string {
	return filepath.Join(c.root, "blobs", "sha256", strings.TrimPrefix(dgst, "sha256:"))
}

// Has reports whether dgst is committed.
func (c *ContentStore) Has(dgst string) bool {
	if checkDigest(dgst) != nil {
		return false
	}
	_, err := os.Stat(c.Path(dgst))
	return err == nil
}

// ReadBlob returns the committed blob dgst when it is at most limit bytes.
func (c *ContentStore) ReadBlob(dgst string, limit int64) ([]byte, error) {
	if err := checkDigest(dgst); err != nil {
		return nil, err
	}
	f, err := os.Open(c.Path(dgst))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", dgst, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", dgst, err)
	}
	if int64(len(b)) > limit {
		return nil, invalid("blob %s exceeds %d bytes", dgst, limit)
	}
	return b, nil
}

// WriteBlob stores b, which must hash to dgst.
func (c *ContentStore) WriteBlob(dgst string, b []byte) error {
	if c.Has(dgst) {
		return nil
	}
	w, err := c.Writer(dgst, int64(len(b)))
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Commit()
}

// Delete removes blob dgst; a missing blob is success.
func (c *ContentStore) Delete(dgst string) error {
	if err := checkDigest(dgst); err != nil {
		return err
	}
	if err := os.Remove(c.Path(dgst)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove blob %s: %w", dgst, err)
	}
	return nil
}

// Writer starts the ingest of blob dgst of size bytes (size <= 0: unknown).
func (c *ContentStore) Writer(dgst string, size int64) (*Writer, error) {
	if err := checkDigest(dgst); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(c.root, "ingest"), strings.TrimPrefix(dgst, "sha256:")[:16]+"-*")
	if err != nil {
		return nil, fmt.Errorf("create ingest file for %s: %w", dgst, err)
	}
	return &Writer{c: c, f: f, dgst: dgst, size: size, h: sha256.New()}, nil
}

// Writer is one blob being downloaded. It hashes what it is given and
// commits only a blob whose size and digest match.
type Writer struct {
	c       *ContentStore
	f       *os.File
	dgst    string
	size    int64
	n       int64
	h       hash.Hash
	settled bool
}

// Write appends p, refusing to grow past the announced size so that a
// registry cannot fill the disk by lying about a blob.
func (w *Writer) Write(p []byte) (int, error) {
	if w.size > 0 && w.n+int64(len(p)) > w.size {
		return 0, invalid("blob %s is larger than its %d bytes", w.dgst, w.size)
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	w.h.Write(p[:n])
	if err != nil {
		return n, fmt.Errorf("write ingest of %s: %w", w.dgst, err)
	}
	return n, nil
}

// Verify checks size and digest of what was written.
func (w *Writer) Verify() error {
	if w.size > 0 && w.n != w.size {
		return invalid("blob %s truncated: %d of %d bytes", w.dgst, w.n, w.size)
	}
	if got := "sha256:" + hex.EncodeToString(w.h.Sum(nil)); got != w.dgst {
		return invalid("blob digest mismatch: want %s, got %s", w.dgst, got)
	}
	return nil
}

// Commit verifies the blob, makes it durable and visible under its digest.
func (w *Writer) Commit() error {
	if err := w.Verify(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("fsync ingest of %s: %w", w.dgst, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close ingest of %s: %w", w.dgst, err)
	}
	w.settled = true
	if err := os.Chmod(w.f.Name(), 0o444); err != nil {
		return fmt.Errorf("chmod blob %s: %w", w.dgst, err)
	}
	if err := os.Rename(w.f.Name(), w.c.Path(w.dgst)); err != nil {
		_ = os.Remove(w.f.Name())
		return fmt.Errorf("commit blob %s: %w", w.dgst, err)
	}
	return nil
}

// Abort discards an uncommitted ingest; after Commit it does nothing.
func (w *Writer) Abort() {
	if w.settled {
		return
	}
	w.settled = true
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}

// Digests lists the committed blobs.
func (c *ContentStore) Digests() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(c.root, "blobs", "sha256"))
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, "sha256:"+e.Name())
	}
	return out, nil
}
