// Package store is Cricket's crash-safe persistence for small records: pods,
// containers, images and anything else a restarted daemon must find again.
//
// Each record is one JSON file, <dir>/<bucket>/<id>.json, holding an envelope
// with a schema version, a SHA-256 checksum of the version and payload, and
// the payload itself. A write goes to a temporary file in the same directory,
// is fsynced, renamed over the old record and the directory is fsynced, so a
// reader sees either the old record or the new one, never a mix. A record
// whose checksum does not match (a torn write on a filesystem that reorders,
// or bit rot) is reported as corrupt and never returned as data.
//
// A store opened with OpenVolatile lives in a directory that does not
// survive a reboot (the daemon's state dir, /run/cricket): its writes are
// still atomic (temporary file, rename), so a process that crashes leaves
// the old record or the new one, but they are not fsynced. An fsync only
// protects against losing the machine, after which such a directory and
// the processes its records describe are gone anyway; on a disk-backed
// /run it would cost every container start tens of milliseconds.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// ErrCorrupt marks a record that exists on disk but cannot be trusted.
var ErrCorrupt = errors.New("corrupt record")

const (
	recordSuffix = ".json"
	tempPrefix   = ".tmp-"
	// maxNameLen keeps the longest file the store creates, the temporary
	// ".tmp-<id>.json-<random uint32>", within the 255-byte NAME_MAX.
	maxNameLen = 255 - len(tempPrefix) - len(recordSuffix) - len("-") - len("4294967295")
)

// validName restricts buckets and ids to names that cannot escape the store
// directory, collide with temporary files or exceed NAME_MAX: the first
// character is [A-Za-z0-9_], the rest [A-Za-z0-9_.-]. It is a loop rather
// than a regexp: compiling `{0,maxNameLen}` costs every process that links
// the store (each pod's shim) about 200 KiB of heap at start.
var validName = nameMatcher{}

type nameMatcher struct{}

// MatchString reports whether s is a valid bucket or record name.
func (nameMatcher) MatchString(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// envelope is the on-disk form of a record.
type envelope struct {
	// Version is the schema version of Data, chosen by the caller.
	Version int `json:"version"`
	// Checksum is the hex SHA-256 of the decimal Version, a newline and Data
	// as stored, so that damage to either is detected.
	Checksum string          `json:"checksum"`
	Data     json.RawMessage `json:"data"`
}

// Store persists records under one directory. It is safe for concurrent use;
// writes to the same record are serialised, writes to different records are not.
type Store struct {
	dir string
	// volatile skips the fsyncs (see OpenVolatile).
	volatile bool
	locks    sync.Map // bucket/id -> *sync.Mutex
	buckets  sync.Map // bucket -> struct{}, once its directory entry is durable
}

// Open creates dir if needed and removes temporary files left by writers that
// died mid-write.
func Open(dir string) (*Store, error) {
	return open(dir, false)
}

// OpenVolatile is Open for a directory that a reboot empties: writes stay
// atomic but are not fsynced (see the package doc).
func OpenVolatile(dir string) (*Store, error) {
	return open(dir, true)
}

func open(dir string, volatile bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store dir %s: %w", dir, err)
	}
	s := &Store{dir: dir, volatile: volatile}
	// A store directory created just now must survive a crash too.
	if err := s.syncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if err := s.removeTemps(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

func (s *Store) removeTemps() error {
	buckets, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read store dir %s: %w", s.dir, err)
	}
	for _, b := range buckets {
		if !b.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.dir, b.Name()))
		if err != nil {
			return fmt.Errorf("read bucket %s: %w", b.Name(), err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				_ = os.Remove(filepath.Join(s.dir, b.Name(), e.Name()))
			}
		}
	}
	return nil
}

func checkNames(bucket, id string) error {
	if !validName.MatchString(bucket) {
		return fmt.Errorf("store bucket %q: %w", bucket, errdefs.ErrInvalidArgument)
	}
	if !validName.MatchString(id) {
		return fmt.Errorf("store id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *Store) path(bucket, id string) string {
	return filepath.Join(s.dir, bucket, id+recordSuffix)
}

func (s *Store) lock(bucket, id string) func() {
	m, _ := s.locks.LoadOrStore(bucket+"/"+id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Put writes v as the record bucket/id with schema version, replacing any
// previous record atomically and durably.
func (s *Store) Put(bucket, id string, version int, v any) error {
	if err := checkNames(bucket, id); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record %s/%s: %w", bucket, id, err)
	}
	raw, err := json.Marshal(envelope{Version: version, Checksum: checksum(version, data), Data: data})
	if err != nil {
		return fmt.Errorf("encode envelope %s/%s: %w", bucket, id, err)
	}
	defer s.lock(bucket, id)()
	if err := s.ensureBucket(bucket); err != nil {
		return err
	}
	return writeFileAtomic(s.path(bucket, id), raw, 0o600, !s.volatile)
}

// syncDir fsyncs dir unless the store is volatile.
func (s *Store) syncDir(dir string) error {
	if s.volatile {
		return nil
	}
	return syncDir(dir)
}

// ensureBucket creates the bucket directory and fsyncs the store directory
// the first time this Store writes to the bucket: otherwise a crash could lose
// a new bucket, and with it every record Put has already reported durable.
// Syncing on first use, rather than only after our own Mkdir, also covers a
// concurrent Put that created the directory and has not yet synced it.
func (s *Store) ensureBucket(bucket string) error {
	if _, ok := s.buckets.Load(bucket); ok {
		return nil
	}
	dir := filepath.Join(s.dir, bucket)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create bucket dir %s: %w", dir, err)
	}
	if err := s.syncDir(s.dir); err != nil {
		return err
	}
	s.buckets.Store(bucket, struct{}{})
	return nil
}

// checksum covers the version too: a flipped bit there would otherwise make a
// caller decode the payload under the wrong schema.
func checksum(version int, data []byte) string {
	h := sha256.New()
	h.Write(strconv.AppendInt(nil, int64(version), 10))
	h.Write([]byte{'\n'})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// Get decodes the record bucket/id into v and returns its schema version.
// A missing record is errdefs.ErrNotFound; a damaged one wraps ErrCorrupt.
func (s *Store) Get(bucket, id string, v any) (int, error) {
	if err := checkNames(bucket, id); err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(s.path(bucket, id))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("record %s/%s: %w", bucket, id, errdefs.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read record %s/%s: %w", bucket, id, err)
	}
	return decode(raw, bucket, id, v)
}

func decode(raw []byte, bucket, id string, v any) (int, error) {
	// json.Unmarshal, unlike a Decoder, rejects every trailing byte that is
	// not white space (Decoder.More misses a stray '}' or ']').
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, fmt.Errorf("record %s/%s: %w: %v", bucket, id, ErrCorrupt, err)
	}
	if checksum(env.Version, env.Data) != env.Checksum {
		return 0, fmt.Errorf("record %s/%s: %w: checksum mismatch", bucket, id, ErrCorrupt)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return 0, fmt.Errorf("record %s/%s: %w: %v", bucket, id, ErrCorrupt, err)
	}
	return env.Version, nil
}

// Delete removes the record bucket/id. Deleting a missing record succeeds.
func (s *Store) Delete(bucket, id string) error {
	if err := checkNames(bucket, id); err != nil {
		return err
	}
	defer s.lock(bucket, id)()
	err := os.Remove(s.path(bucket, id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete record %s/%s: %w", bucket, id, err)
	}
	if err == nil {
		return s.syncDir(filepath.Join(s.dir, bucket))
	}
	return nil
}

// IDs lists the ids of the records in bucket, sorted. A missing bucket is empty.
func (s *Store) IDs(bucket string) ([]string, error) {
	if !validName.MatchString(bucket) {
		return nil, fmt.Errorf("store bucket %q: %w", bucket, errdefs.ErrInvalidArgument)
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, bucket))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", bucket, err)
	}
	var ids []string
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutSuffix(name, recordSuffix)
		// Temporary files start with '.', which validName rejects; so does
		// any other name Get could not read back.
		if e.IsDir() || !ok || !validName.MatchString(id) {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// LoadFunc decodes one record; it is called by Walk with the record's id,
// schema version and a decoder for its payload.
type LoadFunc func(id string, version int, decode func(v any) error) error

// Walk calls fn for every record of bucket. Records that cannot be read or
// decoded are passed to onErr (which may log them) and skipped: recovery
// never aborts because one record is damaged.
func (s *Store) Walk(bucket string, fn LoadFunc, onErr func(id string, err error)) error {
	ids, err := s.IDs(bucket)
	if err != nil {
		return err
	}
	for _, id := range ids {
		raw, err := os.ReadFile(s.path(bucket, id))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) && onErr != nil {
				onErr(id, err)
			}
			continue
		}
		var payload json.RawMessage
		version, err := decode(raw, bucket, id, &payload)
		if err != nil {
			if onErr != nil {
				onErr(id, err)
			}
			continue
		}
		err = fn(id, version, func(v any) error { return json.Unmarshal(payload, v) })
		if err != nil && onErr != nil {
			onErr(id, err)
		}
	}
	return nil
}
