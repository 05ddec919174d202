package shimserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/securefs"
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
	mu sync.Mutex
	// dir is the pod's log directory and rel the log file below it.
	dir, rel string
	f        *os.File
	now      func() time.Time
	// maxLine is the longest message of one record (maxLogLine; smaller
	// in tests).
	maxLine int
}

// openLog opens path for appending, creating the file but not its directory
// (the kubelet owns the pod log dir). path must lie below dir, the pod's log
// directory (the parent of path when empty), and is resolved without
// leaving it: a container that shares the directory through a volume and
// plants a symlink there cannot redirect the write to the host.
func openLog(dir, path string) (*criLog, error) {
	if dir == "" {
		dir = filepath.Dir(path)
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("container log %s is not below the log directory %s: %w", path, dir, errdefs.ErrInvalidArgument)
	}
	l := &criLog{dir: dir, rel: rel, now: time.Now, maxLine: maxLogLine}
	if l.f, err = l.open(); err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	return l, nil
}

func (l *criLog) open() (*os.File, error) {
	return securefs.OpenBeneath(l.dir, l.rel, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_NOCTTY, 0o640)
}

// Reopen opens the log path again, after the kubelet rotated the file. On
// failure the old file stays in use.
func (l *criLog) Reopen() error {
	f, err := l.open()
	if err != nil {
		return fmt.Errorf("reopen container log: %w", err)
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
// maxLogLine becomes partial records followed by a full one. Text left
// without a newline at EOF becomes a partial record, and nothing is added
// after it: the output did not end with a newline, and the kubelet, which
// appends a newline to each F record only, must read it back as it was (a
// FallbackToLogsOnError termination message of `echo -n DONE` is "DONE").
// containerd and CRI-O's conmon do the same.
func (l *criLog) Copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, l.maxLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			l.write(stream, false, line[:len(line)-1])
		case errors.Is(err, bufio.ErrBufferFull):
			l.write(stream, true, line)
		default:
			if len(line) > 0 {
				l.write(stream, true, line)
			}
			return
		}
	}
}
