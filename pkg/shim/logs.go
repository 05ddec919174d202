package shim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// maxLogLine is the longest record the kubelet expects; longer lines are
// split into partial ("P") records, as containerd and CRI-O do.
const maxLogLine = 16 * 1024

// Streams as named in CRI log records.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
)

// criLog writes a container's log file in the CRI format,
// "<RFC3339Nano> <stream> <P|F> <message>\n", one record per write so that
// records of the two streams never interleave.
type criLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	now  func() time.Time
}

// openLog opens path for appending, creating the file but not its directory
// (the kubelet owns the pod log dir).
func openLog(path string) (*criLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open container log %s: %w", path, err)
	}
	return &criLog{path: path, f: f, now: time.Now}, nil
}

// Reopen opens the log path again, after the kubelet rotated the file. On
// failure the old file stays in use.
func (l *criLog) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("reopen container log %s: %w", l.path, err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (l *criLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

func (l *criLog) write(stream string, partial bool, msg []byte) {
	tag := byte('F')
	if partial {
		tag = 'P'
	}
	ts := l.now().UTC().Format(time.RFC3339Nano)
	rec := make([]byte, 0, len(ts)+len(stream)+len(msg)+5)
	rec = append(rec, ts...)
	rec = append(rec, ' ')
	rec = append(rec, stream...)
	rec = append(rec, ' ', tag, ' ')
	rec = append(rec, msg...)
	rec = append(rec, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	// A full disk must not stall the container: drop the record.
	_, _ = l.f.Write(rec)
}

// Copy turns the stream r into records until EOF. A line longer than
// maxLogLine becomes partial records followed by a full one; text left
// without a newline at EOF becomes a full record.
func (l *criLog) Copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			l.write(stream, false, line[:len(line)-1])
		case errors.Is(err, bufio.ErrBufferFull):
			l.write(stream, true, line)
		default:
			if len(line) > 0 {
				l.write(stream, false, line)
			}
			return
		}
	}
}
