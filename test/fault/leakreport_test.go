package fault

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// A leak report says enough to diagnose a leak without a replay (issue
// 15): the leaked thing, the last record the daemon kept of its ID (read
// from the daemon's store, <root>/meta/<bucket>/<id>.json, now or while
// the test ran), what a leaked dir holds, and the RPCs in flight at the
// latest daemon kill.

// recordBuckets are the store buckets of pods and containers.
var recordBuckets = []string{"sandboxes", "containers"}

// maxRecordChars bounds a record quoted in a leak report.
const maxRecordChars = 600

// killNote is what the killer knew at its latest kill.
type killNote struct {
	n    int64
	at   time.Time
	busy []string // RPCs in flight, sorted; empty when idle
}

// noteKill remembers the kill the killer just made.
func (w *world) noteKill(busy []string) {
	b := append([]string(nil), busy...)
	sort.Strings(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastKill = killNote{n: w.daemonKills.Load(), at: time.Now(), busy: b}
}

// records keeps the last version seen of every pod and container record
// of the daemon's store, so that a record deleted before the leak check
// can still be quoted.
type records struct {
	mu   sync.Mutex
	last map[string]seenRecord // bucket/id
}

type seenRecord struct {
	data string
	at   time.Time
}

func newRecords() *records { return &records{last: map[string]seenRecord{}} }

// sample reads every record now in d's store.
func (r *records) sample(d *daemon) {
	for _, b := range recordBuckets {
		files, _ := filepath.Glob(filepath.Join(d.Root, "meta", b, "*.json"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			key := b + "/" + strings.TrimSuffix(filepath.Base(f), ".json")
			r.mu.Lock()
			r.last[key] = seenRecord{data: summarizeRecord(raw), at: time.Now()}
			r.mu.Unlock()
		}
	}
}

// summarizeRecord is a record's payload without the bulky encoded config.
func summarizeRecord(raw []byte) string {
	var env struct {
		Version int                        `json:"version"`
		Data    map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Data == nil {
		return truncate(string(raw))
	}
	delete(env.Data, "config")
	out, err := json.Marshal(env.Data)
	if err != nil {
		return truncate(string(raw))
	}
	return fmt.Sprintf("v%d %s", env.Version, truncate(string(out)))
}

func truncate(s string) string {
	if len(s) > maxRecordChars {
		return s[:maxRecordChars] + "..."
	}
	return s
}

// lastOf returns the records whose ID starts like id (a pod's state dir
// has the first 16 digits of its ID), as "bucket/id (seen at T): data".
func (r *records) lastOf(id string) []string {
	prefix := id
	if len(prefix) > 16 {
		prefix = prefix[:16]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for key, rec := range r.last {
		if strings.HasPrefix(key[strings.Index(key, "/")+1:], prefix) {
			out = append(out, fmt.Sprintf("%s (last seen %s): %s", key, rec.at.Format("15:04:05.000"), rec.data))
		}
	}
	sort.Strings(out)
	return out
}

// ids lists the IDs of the records seen in bucket.
func (r *records) ids(bucket string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for key := range r.last {
		if id, ok := strings.CutPrefix(key, bucket+"/"); ok {
			out = append(out, id)
		}
	}
	return out
}

// hexID finds the pod and container IDs (or their 16-digit prefixes) a
// leak line names.
var hexID = regexp.MustCompile(`[0-9a-f]{16,64}`)

// explainLeaks adds to each leak what is known of it: the last record of
// every ID it names, what a leaked dir holds, and the latest daemon kill.
func (w *world) explainLeaks(d *daemon, recs *records, leaks []string) []string {
	if len(leaks) == 0 {
		return nil
	}
	recs.sample(d)
	w.mu.Lock()
	k := w.lastKill
	w.mu.Unlock()
	kill := "no daemon kill"
	if k.n > 0 {
		busy := strings.Join(k.busy, ", ")
		if busy == "" {
			busy = "none (idle)"
		}
		kill = fmt.Sprintf("latest daemon kill #%d at %s, RPCs in flight: %s", k.n, k.at.Format("15:04:05.000"), busy)
	}
	out := make([]string, 0, len(leaks))
	for _, l := range leaks {
		var notes []string
		if rel, ok := strings.CutPrefix(l, "state dir: "); ok {
			notes = append(notes, "holds ["+strings.Join(dirNames(filepath.Join(d.State, rel)), " ")+"]")
		}
		ids := map[string]bool{}
		for _, id := range hexID.FindAllString(l, -1) {
			if len(id) > 16 {
				id = id[:16]
			}
			if ids[id] {
				continue
			}
			ids[id] = true
			if last := recs.lastOf(id); len(last) > 0 {
				notes = append(notes, "last record "+strings.Join(last, "; "))
			} else {
				notes = append(notes, "no record of "+id+" seen")
			}
		}
		notes = append(notes, kill)
		out = append(out, l+"\n\t"+strings.Join(notes, "\n\t"))
	}
	return out
}

// dirNames lists the names in dir.
func dirNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestExplainLeaks: a leaked pod state dir is reported with what it
// holds, the last record of its pod (here deleted before the check, seen
// by an earlier sample, its config left out) and the RPCs in flight at
// the latest kill; a leak naming no known ID says so.
func TestExplainLeaks(t *testing.T) {
	dir := t.TempDir()
	d := &daemon{Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state")}
	id := strings.Repeat("ab", 32)
	leaked := filepath.Join(d.State, "pods", id[:16])
	recPath := filepath.Join(d.Root, "meta", "sandboxes", id+".json")
	for _, p := range []string{leaked, filepath.Dir(recPath)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(leaked, "shim.log"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := `{"version":1,"checksum":"x","data":{"id":"` + id + `","config":"AAAA","status":{"state":"creating"}}}`
	if err := os.WriteFile(recPath, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	recs := newRecords()
	recs.sample(d)
	if err := os.Remove(recPath); err != nil {
		t.Fatal(err)
	}
	w := &world{}
	w.daemonKills.Store(3)
	w.noteKill([]string{"RunPodSandbox", "CreateContainer"})

	got := w.explainLeaks(d, recs, []string{"state dir: pods/" + id[:16], "veth on br0: 7: x"})
	if len(got) != 2 {
		t.Fatalf("got %d reports, want 2: %q", len(got), got)
	}
	for _, want := range []string{"state dir: pods/" + id[:16], "holds [shim.log]", "sandboxes/" + id, `"state":"creating"`, "kill #3", "CreateContainer, RunPodSandbox"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("report %q lacks %q", got[0], want)
		}
	}
	if strings.Contains(got[0], "AAAA") {
		t.Errorf("report quotes the encoded config: %q", got[0])
	}
	if !strings.Contains(got[1], "kill #3") || strings.Contains(got[1], "last record") {
		t.Errorf("report of a leak naming no ID: %q", got[1])
	}
}
