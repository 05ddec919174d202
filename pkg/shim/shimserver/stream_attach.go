package shimserver

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// attachHub fans a container's output out to its attach sessions. The
// copies that write the log call write for every chunk they read; it never
// blocks: each session gets non-blocking writes into its own pipe, and a
// session whose pipe is full is cut off. The zero value is ready.
type attachHub struct {
	n atomic.Int32 // sessions, read without the lock on the hot path

	mu      sync.Mutex
	closed  bool
	clients map[*attachClient]struct{}
}

// add joins cl; false once the container's output ended.
func (h *attachHub) add(cl *attachClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.clients == nil {
		h.clients = map[*attachClient]struct{}{}
	}
	h.clients[cl] = struct{}{}
	h.n.Store(int32(len(h.clients)))
	return true
}

func (h *attachHub) remove(cl *attachClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, cl)
	h.n.Store(int32(len(h.clients)))
}

// write copies p to every session that takes stream; sessions that cannot
// take it at once are disconnected.
func (h *attachHub) write(stream string, p []byte) {
	if h.n.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for cl := range h.clients {
		if cl.write(stream, p) {
			continue
		}
		delete(h.clients, cl)
		cl.finish(shimapi.StreamMessage{Error: shimapi.EncodeError(fmt.Errorf("attach session too slow to read the container's output, disconnected: %w", errdefs.ErrResourceExhausted)).Error()})
	}
	h.n.Store(int32(len(h.clients)))
}

// close ends every session with msg (the exit) once the output ended.
func (h *attachHub) close(msg shimapi.StreamMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for cl := range h.clients {
		cl.finish(msg)
	}
	h.clients = nil
	h.n.Store(0)
}

// hubWriter is the io.Writer for one stream of the hub; it never fails.
type hubWriter struct {
	h      *attachHub
	stream string
}

func (w hubWriter) Write(p []byte) (int, error) {
	w.h.write(w.stream, p)
	return len(p), nil
}

// attachClient is one attach session: the shim's non-blocking ends of the
// daemon's output pipes (-1 for a stream not asked for) and its control
// connection.
type attachClient struct {
	m *shimapi.StreamConn

	mu     sync.Mutex
	stdout int
	stderr int
	done   bool
}

// newAttachClient takes over stdout and stderr (either may be nil).
func newAttachClient(m *shimapi.StreamConn, stdout, stderr *os.File) (*attachClient, error) {
	cl := &attachClient{m: m, stdout: -1, stderr: -1}
	var err error
	if cl.stdout, err = nonblockingFD(stdout); err == nil {
		cl.stderr, err = nonblockingFD(stderr)
	}
	if err != nil {
		cl.release()
		return nil, err
	}
	return cl, nil
}

// nonblockingFD turns f into a raw non-blocking descriptor of its own.
func nonblockingFD(f *os.File) (int, error) {
	if f == nil {
		return -1, nil
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	err = rc.Control(func(raw uintptr) {
		fd, dupErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = dupErr
	}
	if err != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	return fd, nil
}

// write reports false when p could not be written whole.
func (cl *attachClient) write(stream string, p []byte) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.done {
		return false
	}
	fd := cl.stdout
	if stream == streamStderr {
		fd = cl.stderr
	}
	if fd < 0 {
		return true
	}
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n <= 0 {
			// EAGAIN: the reader fell a pipe buffer behind; EPIPE: gone.
			return false
		}
		p = p[n:]
	}
	return true
}

// finish closes the output pipes and then tells the daemon why the session
// ended (an empty msg tells nothing) and hangs up. It is idempotent.
func (cl *attachClient) finish(msg shimapi.StreamMessage) {
	if !cl.release() {
		return
	}
	// Off the caller's path: the caller may be the log writer.
	go func() {
		if msg != (shimapi.StreamMessage{}) {
			_ = cl.m.Send(msg)
		}
		_ = cl.m.CloseWrite()
	}()
}

// release closes the output pipes; false when that was done before.
func (cl *attachClient) release() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.done {
		return false
	}
	cl.done = true
	for _, fd := range []int{cl.stdout, cl.stderr} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	cl.stdout, cl.stderr = -1, -1
	return true
}
