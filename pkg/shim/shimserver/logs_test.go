package shimserver

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestCRILogCopy(t *testing.T) {
	long := strings.Repeat("x", maxLogLine+10)
	tests := []struct {
		desc, in string
		want     []string
	}{
		{desc: "lines", in: "a\nb\n", want: []string{"stdout F a", "stdout F b"}},
		{desc: "empty line", in: "\n", want: []string{"stdout F "}},
		{desc: "no newline at EOF", in: "a\nrest", want: []string{"stdout F a", "stdout P rest"}},
		{desc: "EOF right after a partial record", in: long[:maxLogLine], want: []string{
			"stdout P " + long[:maxLogLine],
		}},
		{desc: "long line without newline at EOF", in: long, want: []string{
			"stdout P " + long[:maxLogLine], "stdout P " + long[maxLogLine:],
		}},
		{desc: "long line split", in: long + "\n", want: []string{
			"stdout P " + long[:maxLogLine], "stdout F " + long[maxLogLine:],
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.log")
			l, err := openLog("", path)
			if err != nil {
				t.Fatal(err)
			}
			ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
			l.now = func() time.Time { return ts }
			l.Copy(streamStdout, strings.NewReader(tc.in))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want string
			for _, w := range tc.want {
				want += ts.Format(time.RFC3339Nano) + " " + w + "\n"
			}
			if string(data) != want {
				t.Fatalf("log =\n%.200q\nwant\n%.200q", data, want)
			}
		})
	}
}

func TestCRILogReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	l, err := openLog("", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Copy(streamStderr, strings.NewReader("one\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Copy(streamStderr, strings.NewReader("two\n"))
	data, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(data), " stderr F two\n") || strings.Contains(string(data), "one") {
		t.Fatalf("reopened log = %q", data)
	}

	l.rel = filepath.Join("gone", "c.log")
	if err := l.Reopen(); err == nil {
		t.Fatal("reopen into a missing dir succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "gone")); !os.IsNotExist(err) {
		t.Fatal("reopen created the log dir")
	}
}

// TestCRILogStaysInLogDir is the regression test of issue 5: a container
// that shares the pod's log directory (through a volume) and replaces a
// component of a later container's log path with a symlink out of it
// cannot make the shim create or append to a file outside the directory,
// neither at create nor at a rotation reopen.
func TestCRILogStaysInLogDir(t *testing.T) {
	tests := []struct {
		desc  string
		plant func(dir, outside string) error
		rel   string
	}{
		{desc: "dir component is an absolute symlink", rel: "c/0.log", plant: func(dir, outside string) error {
			return os.Symlink(outside, filepath.Join(dir, "c"))
		}},
		{desc: "dir component climbs out", rel: "c/0.log", plant: func(dir, outside string) error {
			return os.Symlink("../outside", filepath.Join(dir, "c"))
		}},
		{desc: "log file is a symlink out", rel: "0.log", plant: func(dir, outside string) error {
			return os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dir, "0.log"))
		}},
		{desc: "through /proc/self/root", rel: "c/0.log", plant: func(dir, outside string) error {
			return os.Symlink("/proc/self/root"+outside, filepath.Join(dir, "c"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			base := t.TempDir()
			dir, outside := filepath.Join(base, "logs"), filepath.Join(base, "outside")
			for _, d := range []string{dir, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("safe"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(dir, outside); err != nil {
				t.Fatal(err)
			}
			l, err := openLog(dir, filepath.Join(dir, tc.rel))
			if err == nil {
				l.Copy(streamStdout, strings.NewReader("pwned\n"))
				l.Close()
				t.Errorf("opened %s through a planted symlink", tc.rel)
			} else if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %v is not InvalidArgument", err)
			}
			checkOutside(t, outside)
		})
	}

	t.Run("swapped before reopen", func(t *testing.T) {
		base := t.TempDir()
		dir, outside := filepath.Join(base, "logs"), filepath.Join(base, "outside")
		for _, d := range []string{filepath.Join(dir, "c"), outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("safe"), 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := openLog(dir, filepath.Join(dir, "c", "victim"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := os.RemoveAll(filepath.Join(dir, "c")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "c")); err != nil {
			t.Fatal(err)
		}
		if err := l.Reopen(); err == nil {
			t.Error("reopen followed the swapped-in symlink")
		}
		l.Copy(streamStdout, strings.NewReader("pwned\n"))
		checkOutside(t, outside)
	})

	t.Run("log path not below log dir", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := openLog(dir, filepath.Join(dir, "..", "x.log")); !errdefs.IsInvalidArgument(err) {
			t.Errorf("openLog outside its dir: %v", err)
		}
	})
}

func checkOutside(t *testing.T, outside string) {
	t.Helper()
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("outside dir now holds %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "safe" {
		t.Errorf("outside file changed to %q", b)
	}
}

// chunkReader returns its data in reads of varying sizes, as a pipe does.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)]) + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzCRILog feeds arbitrary output, in arbitrary read sizes and with a
// small line limit, to the CRI log writer and checks the file: every line
// is "<RFC3339Nano> <stream> <P|F> <message>", timestamps never go back,
// partial records are exactly the line limit long but for a last one
// (output left without a newline at EOF), and the messages joined back (a
// newline after each F record, as the kubelet reads them) equal the input.
func FuzzCRILog(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{0}, uint8(0))
	f.Add([]byte("no newline at end"), []byte{3, 1}, uint8(2))
	f.Add([]byte(strings.Repeat("x", 40)+"\n\n"+strings.Repeat("y", 17)), []byte{15, 0, 40}, uint8(0))
	f.Add([]byte("a\r\nb P F\x00\xff\n stdout F z\n"), []byte{}, uint8(1))
	f.Add([]byte(strings.Repeat("0123456789abcdef", 4)+"\n"), []byte{255}, uint8(0))
	// One dir per fuzzing process: t.TempDir in the fuzz function slows
	// coverage-guided fuzzing down a hundredfold.
	path := filepath.Join(f.TempDir(), "c.log")
	f.Fuzz(func(t *testing.T, data, sizes []byte, lim uint8) {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		l, err := openLog("", path)
		if err != nil {
			t.Fatal(err)
		}
		l.maxLine = 16 + int(lim%48) // bufio's minimum buffer is 16
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		tick := 0
		l.now = func() time.Time { tick++; return base.Add(time.Duration(tick) * 999) }
		l.Copy(streamStderr, &chunkReader{data: data, sizes: sizes})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := checkRecords(t, out, l.maxLine)
		if !bytes.Equal(got, data) {
			t.Fatalf("log content %q, want %q", got, data)
		}
	})
}

// checkRecords parses a CRI log file and returns the stream it records.
func checkRecords(t *testing.T, out []byte, maxLine int) []byte {
	t.Helper()
	if len(out) > 0 && out[len(out)-1] != '\n' {
		t.Fatalf("log does not end with a newline: %q", out)
	}
	var got []byte
	var last time.Time
	// Not bufio.Scanner: it drops a \r before the newline.
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(out) == 0 {
		lines = nil
	}
	for i, line := range lines {
		parts := strings.SplitN(line, " ", 4)
		if len(parts) != 4 {
			t.Fatalf("record %q has %d fields", line, len(parts))
		}
		ts, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			t.Fatalf("record %q: timestamp: %v", line, err)
		}
		if ts.Before(last) {
			t.Fatalf("timestamp %v before %v", ts, last)
		}
		last = ts
		if parts[1] != streamStderr {
			t.Fatalf("record %q: stream %q", line, parts[1])
		}
		got = append(got, parts[3]...)
		switch parts[2] {
		case "F":
			got = append(got, '\n')
		case "P":
			if final := i == len(lines)-1; len(parts[3]) != maxLine && !(final && len(parts[3]) > 0 && len(parts[3]) < maxLine) {
				t.Fatalf("partial record of %d bytes, limit %d", len(parts[3]), maxLine)
			}
		default:
			t.Fatalf("record %q: tag %q", line, parts[2])
		}
	}
	return got
}
