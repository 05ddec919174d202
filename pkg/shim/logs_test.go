package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCRILogCopy(t *testing.T) {
	long := strings.Repeat("x", maxLogLine+10)
	tests := []struct {
		desc, in string
		want     []string
	}{
		{desc: "lines", in: "a\nb\n", want: []string{"stdout F a", "stdout F b"}},
		{desc: "empty line", in: "\n", want: []string{"stdout F "}},
		{desc: "no newline at EOF", in: "a\nrest", want: []string{"stdout F a", "stdout F rest"}},
		{desc: "long line split", in: long + "\n", want: []string{
			"stdout P " + long[:maxLogLine], "stdout F " + long[maxLogLine:],
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.log")
			l, err := openLog(path)
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
	l, err := openLog(path)
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

	l.path = filepath.Join(dir, "gone", "c.log")
	if err := l.Reopen(); err == nil {
		t.Fatal("reopen into a missing dir succeeded")
	}
	if _, err := os.Stat(filepath.Dir(l.path)); !os.IsNotExist(err) {
		t.Fatal("reopen created the log dir")
	}
}
