package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/store"
)

func TestWriteFileAtomic(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		existing []byte // nil: no previous file
		data     []byte
		perm     os.FileMode
	}{
		{desc: "new file", data: []byte("hello"), perm: 0o600},
		{desc: "replaces a longer file entirely", existing: bytes.Repeat([]byte("x"), 4096), data: []byte("short"), perm: 0o600},
		{desc: "empty data", existing: []byte("old"), data: []byte{}, perm: 0o600},
		{desc: "permissions are applied despite the umask", data: []byte("p"), perm: 0o644},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tc.existing != nil {
				writeFile(t, path, tc.existing)
			}
			if err := store.WriteFileAtomic(path, tc.data, tc.perm); err != nil {
				t.Fatalf("WriteFileAtomic: %v", err)
			}
			if got := readFile(t, path); !bytes.Equal(got, tc.data) {
				t.Errorf("content = %q, want %q", got, tc.data)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tc.perm)
			}
			assertNoTemps(t, dir)
		})
	}
}

func TestWriteFileAtomicFailure(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		setup func(t *testing.T, dir string) string // returns the path to write
	}{
		{desc: "missing directory", setup: func(t *testing.T, dir string) string {
			return filepath.Join(dir, "missing", "f")
		}},
		{desc: "rename onto a non-empty directory", setup: func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "f")
			if err := os.MkdirAll(filepath.Join(path, "child"), 0o700); err != nil {
				t.Fatal(err)
			}
			return path
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			if err := store.WriteFileAtomic(path, []byte("data"), 0o600); err == nil {
				t.Fatal("WriteFileAtomic succeeded, want an error")
			}
			assertNoTemps(t, dir)
		})
	}
}

// TestSimulatedCrash lays out by hand what a crash can leave behind: temporary
// files at every stage of a write, and record files damaged in place (as a
// filesystem that reorders writes or an external editor can leave them).
func TestSimulatedCrash(t *testing.T) {
	s := openStore(t)
	good := map[string]rec{"a": {Name: "a", N: 1}, "b": {Name: "b", N: 2}, "c": {Name: "c", N: 3}, "d": {Name: "d", N: 4}}
	for id, v := range good {
		mustPut(t, s, put{"b", id, 1, v})
	}
	bdir := filepath.Join(s.Dir(), "b")
	full := readFile(t, recordPath(s, "b", "a"))
	for name, content := range map[string][]byte{
		// Died creating the temp file, mid-write, before rename: the old
		// record must win.
		".tmp-a.json-1": nil,
		".tmp-a.json-2": full[:len(full)/3],
		".tmp-a.json-3": bytes.Replace(full, []byte(`"n":1`), []byte(`"n":9`), 1),
		// Died before the first rename of a new record: it must not appear.
		".tmp-new.json-4": full,
		// Half-written targets: truncated, zero length, zero-filled tail.
		"b.json": readFile(t, recordPath(s, "b", "b"))[:20],
		"c.json": {},
		"d.json": append(readFile(t, recordPath(s, "b", "d"))[:30], make([]byte, 100)...),
	} {
		writeFile(t, filepath.Join(bdir, name), content)
	}

	s, err := store.Open(s.Dir())
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	assertNoTemps(t, bdir)
	ids, err := s.IDs("b")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(ids, want) {
		t.Errorf("IDs = %q, want %q", ids, want)
	}
	var got rec
	if _, err := s.Get("b", "a", &got); err != nil || !equalRec(got, good["a"]) {
		t.Errorf("Get(a) = %+v, %v; want the record from before the crash", got, err)
	}
	for _, id := range []string{"b", "c", "d"} {
		if _, err := s.Get("b", id, &rec{}); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("Get(%s) = %v, want ErrCorrupt", id, err)
		}
	}
	var visited, reported []string
	err = s.Walk("b", func(id string, _ int, _ func(any) error) error {
		visited = append(visited, id)
		return nil
	}, func(id string, err error) { reported = append(reported, id) })
	if err != nil || !slices.Equal(visited, []string{"a"}) || !slices.Equal(reported, []string{"b", "c", "d"}) {
		t.Errorf("Walk = %v, visited %q, reported %q; want visited [a], reported [b c d]", err, visited, reported)
	}
	// The damaged records can be rewritten.
	mustPut(t, s, put{"b", "b", 2, good["b"]})
	if _, err := s.Get("b", "b", &got); err != nil || !equalRec(got, good["b"]) {
		t.Errorf("Get(b) after rewrite = %+v, %v", got, err)
	}
}

const (
	crashDirEnv = "CRICKET_STORE_CRASH_DIR"
	crashSeqEnv = "CRICKET_STORE_CRASH_SEQ"
	crashBucket = "crash"
	crashIDs    = 3
	crashRounds = 20
	// crashReady is printed by the helper once its first Put has returned.
	crashReady = "cricket-store-helper-ready"
)

// payloadSize is 1 MiB, or 256 KiB under the race detector, which slows JSON
// decoding tenfold and would make the test take minutes.
var payloadSize = func() int {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return 256 << 10
			}
		}
	}
	return 1 << 20
}()

// bigRecord is a large self-describing record: Payload is a function of ID
// and Seq, and Sum covers all three, so any mix of two writes is detected.
type bigRecord struct {
	ID      string `json:"id"`
	Seq     int64  `json:"seq"`
	Payload string `json:"payload"`
	Sum     string `json:"sum"`
}

func crashID(seq int64) string { return "r" + strconv.FormatInt(seq%crashIDs, 10) }

func crashVersion(seq int64) int { return int(seq % 1000) }

func newBigRecord(seq int64) bigRecord {
	id := crashID(seq)
	unit := sha256.Sum256([]byte(id + "/" + strconv.FormatInt(seq, 10)))
	payload := bytes.Repeat([]byte(hex.EncodeToString(unit[:])), payloadSize/64)
	r := bigRecord{ID: id, Seq: seq, Payload: string(payload)}
	r.Sum = r.sum()
	return r
}

func (r bigRecord) sum() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n%s", r.ID, r.Seq, r.Payload)
	return hex.EncodeToString(h.Sum(nil))
}

// check proves r is exactly what the writer of sequence number r.Seq wrote.
func (r bigRecord) check(id string, version int) error {
	want := newBigRecord(r.Seq)
	switch {
	case r.Sum != r.sum():
		return fmt.Errorf("seq %d: self checksum mismatch", r.Seq)
	case r.ID != id || want.ID != id:
		return fmt.Errorf("seq %d: id %q in record %q", r.Seq, r.ID, id)
	case r.Payload != want.Payload || r.Sum != want.Sum:
		return fmt.Errorf("seq %d: payload does not match its sequence number", r.Seq)
	case version != crashVersion(r.Seq):
		return fmt.Errorf("seq %d: version %d, want %d", r.Seq, version, crashVersion(r.Seq))
	}
	return nil
}

// TestHelperWriter is the child process of TestCrashKill: it Puts large
// records in a loop until it is killed.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashKill")
	}
	base, err := strconv.ParseInt(os.Getenv(crashSeqEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Never outlive a parent that failed to kill us.
	deadline := time.Now().Add(2 * time.Minute)
	for seq := base; time.Now().Before(deadline); seq++ {
		if err := s.Put(crashBucket, crashID(seq), crashVersion(seq), newBigRecord(seq)); err != nil {
			t.Fatal(err)
		}
		if seq == base {
			fmt.Println(crashReady)
		}
	}
}

// readyWriter closes ready when the helper announces its first Put.
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	ready chan struct{}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(crashReady+"\n")) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestCrashKill SIGKILLs a process writing large records at random moments and
// proves that every record left behind is complete and consistent, never older
// than what the writer had already been told was durable, and that Open
// removes the temporary files of the interrupted writes.
//
// Encoding a record costs more than writing it, more so under -race, so a
// purely random moment mostly hits json.Marshal. Every other round therefore
// waits, after its random delay, until a temporary file exists and kills the
// writer then, in the middle of the write or its fsync.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	dir := filepath.Join(t.TempDir(), "store")
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>32))

	latest := map[string]int64{}
	midWrite := 0
	for round := 1; round <= crashRounds; round++ {
		base := int64(round) * 1_000_000
		delay := time.Duration(1+rng.IntN(50)) * time.Millisecond
		inWrite := round%2 == 0
		stdout, stderr := runAndKill(t, dir, base, delay, inWrite)

		if temps(t, filepath.Join(dir, crashBucket)) != nil {
			midWrite++
		}
		s, err := store.Open(dir)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		assertNoTemps(t, filepath.Join(dir, crashBucket))
		checkCrashRecords(t, s, round, base, latest)
		if t.Failed() {
			t.Fatalf("round %d (delay %v, in write %v) failed; helper stdout:\n%s\nstderr:\n%s",
				round, delay, inWrite, stdout, stderr)
		}
	}
	t.Logf("%d of %d kills left a temporary file behind; latest seqs %v", midWrite, crashRounds, latest)
}

// runAndKill starts the helper writer, waits for its first durable Put, lets
// it run for delay and, if inWrite, until it has a temporary file open, then
// SIGKILLs it.
func runAndKill(t *testing.T, dir string, base int64, delay time.Duration, inWrite bool) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSeqEnv+"="+strconv.FormatInt(base, 10))
	out := &readyWriter{ready: make(chan struct{})}
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	select {
	case <-out.ready:
	case err := <-done:
		t.Fatalf("helper exited before its first Put: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut.String())
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("helper not ready after a minute\nstdout:\n%s\nstderr:\n%s", out, errOut.String())
	}
	time.Sleep(delay)
	if inWrite {
		waitForTemp(t, filepath.Join(dir, crashBucket), done)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Logf("kill: %v", err)
	}
	err := <-done
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("helper: %v, want killed", err)
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want SIGKILL\nstdout:\n%s\nstderr:\n%s", err, out, errOut.String())
	}
	return out.String(), errOut.String()
}

// waitForTemp polls dir until a temporary file appears, for at most a few
// seconds (the kill then simply lands elsewhere), or until the helper exits.
func waitForTemp(t *testing.T, dir string, done <-chan error) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if len(done) > 0 {
			return
		}
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		names, err := f.Readdirnames(-1)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, ".tmp-") {
				return
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// checkCrashRecords verifies every record after round and records the latest
// sequence number of each id in latest.
func checkCrashRecords(t *testing.T, s *store.Store, round int, base int64, latest map[string]int64) {
	t.Helper()
	ids, err := s.IDs(crashBucket)
	if err != nil {
		t.Fatalf("round %d: IDs: %v", round, err)
	}
	// Walk, the recovery path, checks every record in full.
	var walked int
	err = s.Walk(crashBucket, func(id string, version int, decode func(any) error) error {
		walked++
		var r bigRecord
		if err := decode(&r); err != nil {
			return err
		}
		if err := r.check(id, version); err != nil {
			return err
		}
		if r.Seq < latest[id] {
			return fmt.Errorf("went back from seq %d to %d", latest[id], r.Seq)
		}
		latest[id] = r.Seq
		return nil
	}, func(id string, err error) { t.Errorf("round %d: record %s: %v", round, id, err) })
	if err != nil || walked != len(ids) {
		t.Errorf("round %d: Walk = %v after %d of %d records", round, err, walked, len(ids))
	}
	// Get sees the same, and the Put the helper announced before it was
	// killed is there.
	first := crashID(base)
	var r struct{ Seq int64 }
	if version, err := s.Get(crashBucket, first, &r); err != nil || r.Seq != latest[first] || version != crashVersion(r.Seq) {
		t.Errorf("round %d: Get(%s) = version %d, seq %d, %v; Walk saw seq %d", round, first, version, r.Seq, err, latest[first])
	}
	if r.Seq < base {
		t.Errorf("round %d: record %s has seq %d, want at least %d", round, first, r.Seq, base)
	}
}
