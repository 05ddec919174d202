package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/store"
)

// rec is the payload most tests store.
type rec struct {
	Name string   `json:"name"`
	N    int      `json:"n"`
	Tags []string `json:"tags,omitempty"`
}

// put is one Put a test case performs.
type put struct {
	bucket, id string
	version    int
	v          rec
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustPut(t testing.TB, s *store.Store, p put) {
	t.Helper()
	if err := s.Put(p.bucket, p.id, p.version, p.v); err != nil {
		t.Fatalf("Put(%s/%s): %v", p.bucket, p.id, err)
	}
}

func recordPath(s *store.Store, bucket, id string) string {
	return filepath.Join(s.Dir(), bucket, id+".json")
}

func TestPutGet(t *testing.T) {
	for _, tc := range []struct {
		desc        string
		puts        []put
		bucket, id  string
		wantVersion int
		want        rec
	}{
		{
			desc:        "round trip keeps payload and version",
			puts:        []put{{"pods", "p1", 3, rec{Name: "web", N: 7, Tags: []string{"a", "b"}}}},
			bucket:      "pods",
			id:          "p1",
			wantVersion: 3,
			want:        rec{Name: "web", N: 7, Tags: []string{"a", "b"}},
		},
		{
			desc: "overwrite returns the latest record",
			puts: []put{
				{"pods", "p1", 1, rec{Name: "old", N: 1}},
				{"pods", "p1", 2, rec{Name: "new", N: 2}},
			},
			bucket:      "pods",
			id:          "p1",
			wantVersion: 2,
			want:        rec{Name: "new", N: 2},
		},
		{
			desc:        "version zero and negative numbers",
			puts:        []put{{"b", "x", 0, rec{N: -42}}},
			bucket:      "b",
			id:          "x",
			wantVersion: 0,
			want:        rec{N: -42},
		},
		{
			desc:        "html characters, unicode and escapes survive the checksum",
			puts:        []put{{"b", "x", 1, rec{Name: "<a&b> \"q\" \\ \u2028 ünï 🦗 \x00"}}},
			bucket:      "b",
			id:          "x",
			wantVersion: 1,
			want:        rec{Name: "<a&b> \"q\" \\ \u2028 ünï 🦗 \x00"},
		},
		{
			desc: "records in other buckets and ids are independent",
			puts: []put{
				{"pods", "x", 1, rec{Name: "pod"}},
				{"containers", "x", 2, rec{Name: "container"}},
				{"pods", "y", 3, rec{Name: "other"}},
			},
			bucket:      "containers",
			id:          "x",
			wantVersion: 2,
			want:        rec{Name: "container"},
		},
		{
			desc:        "names with dots, dashes and underscores",
			puts:        []put{{"b_1", "_a.b-c..d.json", 1, rec{Name: "dots"}}},
			bucket:      "b_1",
			id:          "_a.b-c..d.json",
			wantVersion: 1,
			want:        rec{Name: "dots"},
		},
		{
			desc:        "longest valid id fits NAME_MAX with the temp file prefix",
			puts:        []put{{"b", strings.Repeat("a", 234), 1, rec{Name: "long"}}},
			bucket:      "b",
			id:          strings.Repeat("a", 234),
			wantVersion: 1,
			want:        rec{Name: "long"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			for _, p := range tc.puts {
				mustPut(t, s, p)
			}
			var got rec
			version, err := s.Get(tc.bucket, tc.id, &got)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if version != tc.wantVersion {
				t.Errorf("version = %d, want %d", version, tc.wantVersion)
			}
			if !equalRec(got, tc.want) {
				t.Errorf("Get = %+v, want %+v", got, tc.want)
			}
			assertNoTemps(t, filepath.Join(s.Dir(), tc.bucket))
		})
	}
}

func equalRec(a, b rec) bool {
	return a.Name == b.Name && a.N == b.N && slices.Equal(a.Tags, b.Tags)
}

func TestGetMissing(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		puts       []put
		bucket, id string
	}{
		{desc: "empty store", bucket: "pods", id: "p1"},
		{desc: "missing bucket", puts: []put{{"pods", "p1", 1, rec{}}}, bucket: "containers", id: "p1"},
		{desc: "missing id in existing bucket", puts: []put{{"pods", "p1", 1, rec{}}}, bucket: "pods", id: "p2"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			for _, p := range tc.puts {
				mustPut(t, s, p)
			}
			got := rec{Name: "untouched"}
			_, err := s.Get(tc.bucket, tc.id, &got)
			if !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("Get = %v, want ErrNotFound", err)
			}
			if got.Name != "untouched" {
				t.Errorf("Get changed its argument to %+v", got)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		puts       []put
		bucket, id string
		deletes    int
		wantIDs    []string
	}{
		{desc: "existing record", puts: []put{{"b", "x", 1, rec{}}, {"b", "y", 1, rec{}}}, bucket: "b", id: "x", deletes: 1, wantIDs: []string{"y"}},
		{desc: "twice is idempotent", puts: []put{{"b", "x", 1, rec{}}}, bucket: "b", id: "x", deletes: 2},
		{desc: "never existed", puts: []put{{"b", "y", 1, rec{}}}, bucket: "b", id: "x", deletes: 1, wantIDs: []string{"y"}},
		{desc: "missing bucket", bucket: "nope", id: "x", deletes: 2},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			for _, p := range tc.puts {
				mustPut(t, s, p)
			}
			for i := range tc.deletes {
				if err := s.Delete(tc.bucket, tc.id); err != nil {
					t.Fatalf("Delete #%d: %v", i+1, err)
				}
			}
			if _, err := s.Get(tc.bucket, tc.id, &rec{}); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("Get after Delete = %v, want ErrNotFound", err)
			}
			ids, err := s.IDs(tc.bucket)
			if err != nil {
				t.Fatalf("IDs: %v", err)
			}
			if !slices.Equal(ids, tc.wantIDs) {
				t.Errorf("IDs = %q, want %q", ids, tc.wantIDs)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		puts   []put
		files  []string // extra files created by hand in bucket "b"
		dirs   []string // extra directories created by hand in bucket "b"
		bucket string
		want   []string
	}{
		{desc: "missing bucket is empty", bucket: "b"},
		{
			desc:   "sorted regardless of write order",
			puts:   []put{{"b", "c", 1, rec{}}, {"b", "a", 1, rec{}}, {"b", "B", 1, rec{}}, {"b", "b.2", 1, rec{}}, {"b", "b", 1, rec{}}},
			bucket: "b",
			want:   []string{"B", "a", "b", "b.2", "c"},
		},
		{
			desc:   "only the asked bucket",
			puts:   []put{{"b", "x", 1, rec{}}, {"other", "y", 1, rec{}}},
			bucket: "b",
			want:   []string{"x"},
		},
		{
			desc: "ignores temp files, other suffixes, hidden files and directories",
			puts: []put{{"b", "x", 1, rec{}}},
			files: []string{
				".tmp-x.json-12345", ".tmp-y.json-1", ".tmp-z.json", "notes.txt", "x.json.bak",
				"json", ".json", ".hidden.json", "-dash.json", "bad name.json",
			},
			dirs:   []string{"d.json"},
			bucket: "b",
			want:   []string{"x"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			for _, p := range tc.puts {
				mustPut(t, s, p)
			}
			bdir := filepath.Join(s.Dir(), "b")
			for _, f := range tc.files {
				writeFile(t, filepath.Join(bdir, f), []byte("{}"))
			}
			for _, d := range tc.dirs {
				if err := os.MkdirAll(filepath.Join(bdir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.IDs(tc.bucket)
			if err != nil {
				t.Fatalf("IDs: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("IDs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInvalidNames(t *testing.T) {
	for _, tc := range []struct {
		desc string
		name string
	}{
		{desc: "empty", name: ""},
		{desc: "dot", name: "."},
		{desc: "dot dot", name: ".."},
		{desc: "parent escape", name: "../x"},
		{desc: "slash", name: "a/b"},
		{desc: "absolute", name: "/etc"},
		{desc: "leading dot", name: ".hidden"},
		{desc: "temp prefix", name: ".tmp-x"},
		{desc: "leading dash", name: "-x"},
		{desc: "space", name: "a b"},
		{desc: "NUL", name: "a\x00b"},
		{desc: "backslash", name: `a\b`},
		{desc: "trailing newline", name: "a\n"},
		{desc: "colon", name: "sha256:abc"},
		{desc: "non-ASCII", name: "ünï"},
		{desc: "longer than NAME_MAX allows", name: strings.Repeat("a", 235)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			mustPut(t, s, put{"b", "ok", 1, rec{}})
			calls := map[string]error{
				"Put bad id":      s.Put("b", tc.name, 1, rec{}),
				"Put bad bucket":  s.Put(tc.name, "ok", 1, rec{}),
				"Delete bad id":   s.Delete("b", tc.name),
				"Delete bad bkt":  s.Delete(tc.name, "ok"),
				"Walk bad bucket": s.Walk(tc.name, func(string, int, func(any) error) error { return nil }, nil),
			}
			_, calls["Get bad id"] = s.Get("b", tc.name, &rec{})
			_, calls["Get bad bucket"] = s.Get(tc.name, "ok", &rec{})
			_, calls["IDs bad bucket"] = s.IDs(tc.name)
			for call, err := range calls {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Errorf("%s(%q) = %v, want ErrInvalidArgument", call, tc.name, err)
				}
			}
			// Nothing may have been written outside the one valid record.
			if _, err := s.Get("b", "ok", &rec{}); err != nil {
				t.Errorf("valid record damaged: %v", err)
			}
			entries, err := os.ReadDir(s.Dir())
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != "b" {
				t.Errorf("store dir holds %v, want only bucket b", entries)
			}
		})
	}
}

// corruptions damage a record file written by Put. The record payload is
// rec{Name: "hello world", N: 12345} with version 7.
var corruptions = []struct {
	desc   string
	mutate func(raw []byte) []byte
}{
	{desc: "empty file", mutate: func([]byte) []byte { return nil }},
	{desc: "truncated to half", mutate: func(raw []byte) []byte { return raw[:len(raw)/2] }},
	{desc: "truncated by one byte", mutate: func(raw []byte) []byte { return raw[:len(raw)-1] }},
	{desc: "truncated after data", mutate: func(raw []byte) []byte { return raw[:bytes.LastIndexByte(raw, '}')] }},
	{desc: "flipped byte in data string", mutate: replaceOnce("hello world", "hellp world")},
	{desc: "flipped digit in data number", mutate: replaceOnce("12345", "12346")},
	{desc: "flipped bit making JSON invalid", mutate: replaceOnce(`"n"`, `"n\x80`)},
	{desc: "flipped version digit", mutate: replaceOnce(`"version":7`, `"version":9`)},
	{desc: "trailing junk", mutate: appendBytes("junk")},
	{desc: "trailing brace", mutate: appendBytes("}")},
	{desc: "trailing bracket", mutate: appendBytes("]")},
	{desc: "second envelope appended", mutate: func(raw []byte) []byte { return append(slices.Clone(raw), raw...) }},
	{desc: "bad checksum", mutate: func(raw []byte) []byte {
		return replaceChecksum(raw, strings.Repeat("0", 64))
	}},
	{desc: "checksum of the payload alone", mutate: func(raw []byte) []byte {
		sum := sha256.Sum256([]byte(`{"name":"hello world","n":12345}`))
		return replaceChecksum(raw, hex.EncodeToString(sum[:]))
	}},
	{desc: "uppercase checksum", mutate: func(raw []byte) []byte {
		return replaceChecksum(raw, strings.ToUpper(checksumOf(raw)))
	}},
	{desc: "checksum removed", mutate: func(raw []byte) []byte {
		return replaceChecksum(raw, "")
	}},
	{desc: "data removed", mutate: func([]byte) []byte {
		return []byte(`{"version":7,"checksum":"` + sum(7, nil) + `"}`)
	}},
	{desc: "not an object", mutate: func([]byte) []byte { return []byte(`[1,2,3]`) }},
	{desc: "null", mutate: func([]byte) []byte { return []byte(`null`) }},
	{desc: "zeroed block", mutate: func(raw []byte) []byte { return make([]byte, len(raw)) }},
	{desc: "checksum matches but data is not JSON", mutate: func([]byte) []byte {
		return []byte(`{"version":7,"checksum":"` + sum(7, []byte("nope")) + `","data":nope}`)
	}},
}

func replaceOnce(old, new string) func([]byte) []byte {
	return func(raw []byte) []byte {
		if !bytes.Contains(raw, []byte(old)) {
			panic(fmt.Sprintf("%q not in %s", old, raw))
		}
		return bytes.Replace(raw, []byte(old), []byte(new), 1)
	}
}

func appendBytes(s string) func([]byte) []byte {
	return func(raw []byte) []byte { return append(slices.Clone(raw), s...) }
}

func checksumOf(raw []byte) string {
	var env struct{ Checksum string }
	if err := json.Unmarshal(raw, &env); err != nil {
		panic(err)
	}
	return env.Checksum
}

func replaceChecksum(raw []byte, with string) []byte {
	return replaceOnce(`"checksum":"`+checksumOf(raw)+`"`, `"checksum":"`+with+`"`)(raw)
}

// sum is an independent implementation of the documented checksum: SHA-256
// of the decimal version, a newline and the data as stored.
func sum(version int, data []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", version)
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func TestCorrupt(t *testing.T) {
	for _, tc := range corruptions {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			mustPut(t, s, put{"b", "x", 7, rec{Name: "hello world", N: 12345}})
			path := recordPath(s, "b", "x")
			writeFile(t, path, tc.mutate(readFile(t, path)))

			got := rec{Name: "untouched"}
			version, err := s.Get("b", "x", &got)
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Get = version %d, %v; want ErrCorrupt", version, err)
			}
			if version != 0 || !equalRec(got, rec{Name: "untouched"}) {
				t.Errorf("corrupt record returned as data: version %d, %+v", version, got)
			}
			// The record is still listed, so that recovery can report it.
			if ids, _ := s.IDs("b"); !slices.Equal(ids, []string{"x"}) {
				t.Errorf("IDs = %q, want [x]", ids)
			}
		})
	}
}

func TestNotCorrupt(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		mutate func([]byte) []byte
	}{
		{desc: "trailing newline", mutate: appendBytes("\n")},
		{desc: "trailing white space", mutate: appendBytes(" \t\r\n ")},
		{desc: "reindented envelope", mutate: func(raw []byte) []byte {
			var env map[string]json.RawMessage
			if err := json.Unmarshal(raw, &env); err != nil {
				panic(err)
			}
			data := env["data"]
			delete(env, "data")
			out, err := json.MarshalIndent(env, "", "  ")
			if err != nil {
				panic(err)
			}
			// Keep data byte for byte: the checksum covers it as stored.
			return append(out[:len(out)-2], `,"data":`+string(data)+"}"...)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			want := rec{Name: "hello world", N: 12345}
			mustPut(t, s, put{"b", "x", 7, want})
			path := recordPath(s, "b", "x")
			writeFile(t, path, tc.mutate(readFile(t, path)))
			var got rec
			version, err := s.Get("b", "x", &got)
			if err != nil || version != 7 || !equalRec(got, want) {
				t.Errorf("Get = %d, %+v, %v; want 7, %+v, nil", version, got, err, want)
			}
		})
	}
}

// walked is one call of a Walk callback.
type walked struct {
	id      string
	version int
	v       rec
}

func TestWalk(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		puts       []put
		corrupt    []string // ids truncated after the puts
		failID     string   // id whose callback returns an error
		nilOnErr   bool
		want       []walked
		wantErrIDs []string
	}{
		{desc: "missing bucket", want: nil},
		{
			desc: "all records in id order",
			puts: []put{{"b", "c", 3, rec{Name: "c"}}, {"b", "a", 1, rec{Name: "a"}}, {"other", "z", 1, rec{}}},
			want: []walked{{"a", 1, rec{Name: "a"}}, {"c", 3, rec{Name: "c"}}},
		},
		{
			desc: "corrupt records are reported and skipped",
			puts: []put{
				{"b", "a", 1, rec{Name: "a"}}, {"b", "b", 1, rec{Name: "b"}}, {"b", "c", 2, rec{Name: "c"}},
				{"b", "d", 1, rec{Name: "d"}}, {"b", "e", 5, rec{Name: "e"}},
			},
			corrupt:    []string{"b", "d"},
			want:       []walked{{"a", 1, rec{Name: "a"}}, {"c", 2, rec{Name: "c"}}, {"e", 5, rec{Name: "e"}}},
			wantErrIDs: []string{"b", "d"},
		},
		{
			desc:       "callback errors are reported without aborting",
			puts:       []put{{"b", "a", 1, rec{Name: "a"}}, {"b", "b", 1, rec{Name: "b"}}, {"b", "c", 1, rec{Name: "c"}}},
			failID:     "b",
			want:       []walked{{"a", 1, rec{Name: "a"}}, {"b", 1, rec{Name: "b"}}, {"c", 1, rec{Name: "c"}}},
			wantErrIDs: []string{"b"},
		},
		{
			desc:     "nil onErr",
			puts:     []put{{"b", "a", 1, rec{Name: "a"}}, {"b", "b", 1, rec{Name: "b"}}},
			corrupt:  []string{"a"},
			failID:   "b",
			nilOnErr: true,
			want:     []walked{{"b", 1, rec{Name: "b"}}},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			for _, p := range tc.puts {
				mustPut(t, s, p)
			}
			for _, id := range tc.corrupt {
				path := recordPath(s, "b", id)
				raw := readFile(t, path)
				writeFile(t, path, raw[:len(raw)/2])
			}
			errFail := errors.New("callback failed")
			var got []walked
			fn := func(id string, version int, decode func(any) error) error {
				var v rec
				if err := decode(&v); err != nil {
					t.Errorf("decode %s: %v", id, err)
				}
				got = append(got, walked{id, version, v})
				if id == tc.failID {
					return errFail
				}
				return nil
			}
			var errIDs []string
			onErr := func(id string, err error) {
				errIDs = append(errIDs, id)
				want := store.ErrCorrupt
				if id == tc.failID {
					want = errFail
				}
				if !errors.Is(err, want) {
					t.Errorf("onErr(%s, %v), want %v", id, err, want)
				}
			}
			if tc.nilOnErr {
				onErr = nil
			}
			if err := s.Walk("b", fn, onErr); err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if !slices.EqualFunc(got, tc.want, func(a, b walked) bool {
				return a.id == b.id && a.version == b.version && equalRec(a.v, b.v)
			}) {
				t.Errorf("Walk visited %+v, want %+v", got, tc.want)
			}
			if !slices.Equal(errIDs, tc.wantErrIDs) {
				t.Errorf("onErr ids = %q, want %q", errIDs, tc.wantErrIDs)
			}
		})
	}
}

func TestOpenRemovesTemps(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		files     []string // relative to the store dir
		wantGone  []string
		wantStays []string
	}{
		{
			desc:     "temp files in buckets",
			files:    []string{"b/.tmp-x.json-123", "b/.tmp-y.json-9", "c/.tmp-z.json-", "c/.tmp-"},
			wantGone: []string{"b/.tmp-x.json-123", "b/.tmp-y.json-9", "c/.tmp-z.json-", "c/.tmp-"},
		},
		{
			desc:      "other files are left alone",
			files:     []string{"b/.tmp-x.json-1", "b/notes.txt", "b/.hidden", "b/tmp-x.json-1"},
			wantGone:  []string{"b/.tmp-x.json-1"},
			wantStays: []string{"b/notes.txt", "b/.hidden", "b/tmp-x.json-1"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			want := rec{Name: "keep"}
			mustPut(t, s, put{"b", "x", 1, want})
			for _, f := range tc.files {
				p := filepath.Join(s.Dir(), f)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, []byte(`{"version":1,"chec`))
			}
			s, err := store.Open(s.Dir())
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			for _, f := range tc.wantGone {
				if _, err := os.Lstat(filepath.Join(s.Dir(), f)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s survived Open: %v", f, err)
				}
			}
			for _, f := range tc.wantStays {
				if _, err := os.Lstat(filepath.Join(s.Dir(), f)); err != nil {
					t.Errorf("%s removed by Open: %v", f, err)
				}
			}
			var got rec
			if _, err := s.Get("b", "x", &got); err != nil || !equalRec(got, want) {
				t.Errorf("Get after reopen = %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// concRec is self-checking: Sum must match the other fields.
type concRec struct {
	Writer, Seq int
	Pad         string
	Sum         string
}

func newConcRec(writer, seq int) concRec {
	r := concRec{Writer: writer, Seq: seq, Pad: strings.Repeat(strconv.Itoa(writer), 100+seq)}
	r.Sum = r.sum()
	return r
}

func (r concRec) sum() string {
	return sum(r.Writer*1_000_000+r.Seq, []byte(r.Pad))
}

func TestConcurrentPuts(t *testing.T) {
	const writers, puts = 8, 10
	for _, tc := range []struct {
		desc string
		id   func(writer, seq int) string
	}{
		{desc: "same id", id: func(int, int) string { return "shared" }},
		{desc: "different ids", id: func(w, _ int) string { return "w" + strconv.Itoa(w) }},
		{desc: "mixed ids", id: func(w, seq int) string { return "m" + strconv.Itoa((w+seq)%3) }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for seq := range puts {
						if err := s.Put("b", tc.id(w, seq), seq, newConcRec(w, seq)); err != nil {
							t.Errorf("Put: %v", err)
							return
						}
					}
				})
			}
			// Readers racing the writers must never see a torn record.
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for range 2 {
				readers.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						err := s.Walk("b", func(id string, version int, decode func(any) error) error {
							return checkConcRec(decode, version)
						}, func(id string, err error) { t.Errorf("concurrent Walk: %s: %v", id, err) })
						if err != nil {
							t.Errorf("Walk: %v", err)
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			readers.Wait()

			ids, err := s.IDs("b")
			if err != nil {
				t.Fatal(err)
			}
			wantIDs := map[string]bool{}
			for w := range writers {
				for seq := range puts {
					wantIDs[tc.id(w, seq)] = true
				}
			}
			if len(ids) != len(wantIDs) {
				t.Errorf("IDs = %q, want %d ids", ids, len(wantIDs))
			}
			for _, id := range ids {
				var r concRec
				version, err := s.Get("b", id, &r)
				if err != nil {
					t.Errorf("Get(%s): %v", id, err)
					continue
				}
				if r.Sum != r.sum() || r.Seq != version || tc.id(r.Writer, r.Seq) != id {
					t.Errorf("record %s inconsistent: version %d writer %d seq %d", id, version, r.Writer, r.Seq)
				}
			}
			assertNoTemps(t, filepath.Join(s.Dir(), "b"))
		})
	}
}

func checkConcRec(decode func(any) error, version int) error {
	var r concRec
	if err := decode(&r); err != nil {
		return err
	}
	if r.Sum != r.sum() || r.Seq != version {
		return fmt.Errorf("inconsistent record: version %d, writer %d, seq %d", version, r.Writer, r.Seq)
	}
	return nil
}

// fuzzEnvelope mirrors the documented on-disk form, so FuzzDecode checks the
// store against the format rather than against itself.
type fuzzEnvelope struct {
	Version  int             `json:"version"`
	Checksum string          `json:"checksum"`
	Data     json.RawMessage `json:"data"`
}

// validRecord reports whether raw is a record the store may accept, and its
// version: a single JSON envelope whose checksum matches its data.
func validRecord(raw []byte) (int, bool) {
	var env fuzzEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, false
	}
	if !json.Valid(env.Data) || env.Checksum != sum(env.Version, env.Data) {
		return 0, false
	}
	return env.Version, true
}

func FuzzDecode(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzDecode.
	seed := openStore(f)
	for i, v := range []any{rec{Name: "hello world", N: 12345}, nil, "s", []int{1, 2}, map[string]any{"a": 1.5}} {
		if err := seed.Put("b", "r", 7+i, v); err != nil {
			f.Fatal(err)
		}
		f.Add(readFile(f, recordPath(seed, "b", "r")))
	}
	// The corruptions expect this record, as in TestCorrupt.
	if err := seed.Put("b", "r", 7, rec{Name: "hello world", N: 12345}); err != nil {
		f.Fatal(err)
	}
	raw := readFile(f, recordPath(seed, "b", "r"))
	for _, c := range corruptions {
		f.Add(c.mutate(raw))
	}

	s := openStore(f)
	path := recordPath(s, "b", "r")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		writeFile(t, path, raw)
		wantVersion, valid := validRecord(raw)

		var got any
		version, err := s.Get("b", "r", &got)
		switch {
		case err == nil && !valid:
			t.Fatalf("Get accepted a record whose checksum does not match: version %d, %v", version, got)
		case err == nil && version != wantVersion:
			t.Fatalf("Get version = %d, want %d", version, wantVersion)
		case err != nil && valid:
			t.Fatalf("Get rejected a valid record: %v", err)
		case err != nil && !errors.Is(err, store.ErrCorrupt):
			t.Fatalf("Get error = %v, want ErrCorrupt", err)
		}

		var calls, errs int
		werr := s.Walk("b", func(id string, version int, decode func(any) error) error {
			calls++
			var v any
			if err := decode(&v); err != nil {
				t.Errorf("Walk decode: %v", err)
			}
			if !valid || version != wantVersion {
				t.Errorf("Walk accepted record: valid %v, version %d want %d", valid, version, wantVersion)
			}
			return nil
		}, func(id string, err error) {
			errs++
			if valid || !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Walk onErr(%s, %v) for valid=%v", id, err, valid)
			}
		})
		if werr != nil || calls+errs != 1 {
			t.Errorf("Walk = %v with %d calls and %d errors, want one of either", werr, calls, errs)
		}
	})
}

func BenchmarkPut(b *testing.B) {
	s := openStore(b)
	v := rec{Name: "k8s_POD_web-0_default_0b7a6c1e", N: 42, Tags: []string{"ready"}}
	for b.Loop() {
		if err := s.Put("pods", "0b7a6c1e5f2d", 1, v); err != nil {
			b.Fatal(err)
		}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// assertNoTemps fails if dir holds a temporary file.
func assertNoTemps(t testing.TB, dir string) {
	t.Helper()
	if temps := temps(t, dir); len(temps) > 0 {
		t.Errorf("temporary files left in %s: %q", dir, temps)
	}
}

func temps(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestNameBoundaries pins the name rule at its edges: the longest name
// (NAME_MAX less the temporary file's affixes, 234 bytes) and the allowed
// characters after the first.
func TestNameBoundaries(t *testing.T) {
	for _, tc := range []struct {
		desc string
		name string
		ok   bool
	}{
		{desc: "single char", name: "a", ok: true},
		{desc: "underscore first", name: "_x", ok: true},
		{desc: "dots and dashes inside", name: "a.b-c_d", ok: true},
		{desc: "longest allowed", name: strings.Repeat("a", 234), ok: true},
		{desc: "one too long", name: strings.Repeat("a", 235), ok: false},
		{desc: "leading dot", name: ".a", ok: false},
		{desc: "slash inside", name: "a/b", ok: false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := openStore(t)
			err := s.Put("b", tc.name, 1, rec{})
			if tc.ok && err != nil {
				t.Errorf("Put(%q) = %v, want success", tc.name, err)
			}
			if !tc.ok && !errdefs.IsInvalidArgument(err) {
				t.Errorf("Put(%q) = %v, want invalid argument", tc.name, err)
			}
		})
	}
}

// A volatile store keeps the record format, the atomic replace and the
// corruption check; only the fsyncs go.
func TestVolatileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := store.OpenVolatile(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, put{"b", "x", 1, rec{Name: "one"}})
	mustPut(t, s, put{"b", "x", 2, rec{Name: "two"}})
	// A durable store opened on the same directory reads what it wrote.
	d, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got rec
	v, err := d.Get("b", "x", &got)
	if err != nil || v != 2 || got.Name != "two" {
		t.Fatalf("Get = %d, %+v, %v; want 2, two", v, got, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "b"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("bucket holds %v (%v), want the one record and no temporary file", entries, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b", "x.json"), []byte(`{"version":2,"checksum":"00","data":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("b", "x", &got); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Get of a damaged record = %v, want ErrCorrupt", err)
	}
	if err := s.Delete("b", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("b", "x", &got); !errdefs.IsNotFound(err) {
		t.Fatalf("Get after Delete = %v, want not found", err)
	}
}
