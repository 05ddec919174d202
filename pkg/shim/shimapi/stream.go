package shimapi

// Streaming exec and attach run over a second socket, StateDir/stream.sock,
// one connection per session. The connection carries only small control
// frames; the bytes of the streams never pass through it:
//
//   - exec: the daemon creates the pipes and hands the process's ends to
//     the shim with SCM_RIGHTS, so the process reads and writes the daemon's
//     pipes directly; a terminal's pty master goes back to the daemon the
//     same way. The shim only starts the process and reports its exit.
//   - attach: the container's stdio belongs to the shim (it writes the
//     logs), so the shim copies the output it reads anyway to each attached
//     session's pipe with non-blocking writes: the kernel's pipe buffer is
//     the only buffer, and a session whose pipe is full is disconnected
//     instead of slowing the container or its log.
//
// A frame is a 4-byte big-endian length and a JSON document; files ride as
// SCM_RIGHTS on the first frame of each direction.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const streamSocketName = "stream.sock"

// StreamSocketPath is the shim's stream socket for the pod state dir.
func StreamSocketPath(stateDir string) string { return filepath.Join(stateDir, streamSocketName) }

// Stream operations, StreamRequest.Op.
const (
	OpExec   = "exec"
	OpAttach = "attach"
)

// Winsize is a terminal size in characters.
type Winsize struct {
	Width  uint16
	Height uint16
}

// StreamRequest opens a session. The files for the streams set ride along
// in the order stdin, stdout, stderr: for exec the process's own ends, for
// attach the shim's ends of the daemon's pipes (stdin to read, outputs to
// write).
type StreamRequest struct {
	Op      string
	ID      string
	Process *specs.Process `json:",omitempty"`
	Stdin   bool           `json:",omitempty"`
	Stdout  bool           `json:",omitempty"`
	Stderr  bool           `json:",omitempty"`
	// CloseStdin closes the container's stdin when this attach session's
	// stdin ends (the CRI's stdin_once).
	CloseStdin bool `json:",omitempty"`
}

// StreamMessage is every frame after the request: started (with an exec's pty
// master), exited, an error (encoded with its class) from the shim; a
// resize from the daemon.
type StreamMessage struct {
	Started  bool     `json:",omitempty"`
	Pid      int      `json:",omitempty"`
	Exited   bool     `json:",omitempty"`
	ExitCode int      `json:",omitempty"`
	Error    string   `json:",omitempty"`
	Resize   *Winsize `json:",omitempty"`
}

// Frame limits: a request carries a process spec (env, capabilities), a
// few KiB; anything near the cap is garbage.
const (
	maxFrame     = 1 << 20
	maxFrameFDs  = 3
	readChunk    = 4 << 10
	streamHeader = 4
)

// StreamConn sends and receives frames with their files on a unix socket.
type StreamConn struct {
	c *net.UnixConn

	wmu sync.Mutex

	// Only one goroutine receives at a time.
	rbuf []byte
	fds  []int
}

// NewStreamConn frames c; the StreamConn owns it.
func NewStreamConn(c *net.UnixConn) *StreamConn { return &StreamConn{c: c} }

// Close closes the socket and the files received but not yet returned by
// Recv. It must not run concurrently with Recv; Hangup may.
func (m *StreamConn) Close() error {
	for _, fd := range m.fds {
		_ = unix.Close(fd)
	}
	m.fds = nil
	return m.c.Close()
}

// Hangup closes the socket only: a Recv in another goroutine fails, and
// the peer sees the session end.
func (m *StreamConn) Hangup() error { return m.c.Close() }

// CloseWrite shuts down the sending half: the peer reads the end of the
// stream once it has read every frame sent before.
func (m *StreamConn) CloseWrite() error { return m.c.CloseWrite() }

// Send writes v as one frame with files attached.
func (m *StreamConn) Send(v any, files ...*os.File) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode stream frame: %w", err)
	}
	frame := make([]byte, streamHeader+len(data))
	binary.BigEndian.PutUint32(frame, uint32(len(data)))
	copy(frame[streamHeader:], data)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	n, _, err := m.c.WriteMsgUnix(frame, oob, nil)
	if err == nil && n < len(frame) {
		_, err = m.c.Write(frame[n:])
	}
	if err != nil {
		return fmt.Errorf("send stream frame: %w", err)
	}
	return nil
}

// Recv reads the next frame into v and returns the file descriptors that
// came with it; the caller owns them. Only one goroutine may receive.
func (m *StreamConn) Recv(v any) ([]int, error) {
	buf := make([]byte, readChunk)
	oob := make([]byte, unix.CmsgSpace(maxFrameFDs*4))
	for {
		if len(m.rbuf) >= streamHeader {
			size := int(binary.BigEndian.Uint32(m.rbuf))
			if size > maxFrame {
				return nil, fmt.Errorf("stream frame of %d bytes exceeds %d", size, maxFrame)
			}
			if len(m.rbuf) >= streamHeader+size {
				data := m.rbuf[streamHeader : streamHeader+size]
				m.rbuf = m.rbuf[streamHeader+size:]
				fds := m.fds
				m.fds = nil
				if err := json.Unmarshal(data, v); err != nil {
					CloseFDs(fds)
					return nil, fmt.Errorf("decode stream frame: %w", err)
				}
				return fds, nil
			}
		}
		n, oobn, flags, _, err := m.c.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			fds, perr := parseRights(oob[:oobn])
			m.fds = append(m.fds, fds...)
			if perr != nil && err == nil {
				err = perr
			}
		}
		if err == nil && flags&unix.MSG_CTRUNC != 0 {
			err = errors.New("recvmsg: control message truncated (too many files)")
		}
		if err == nil && n == 0 {
			err = errors.New("stream closed")
		}
		if err != nil {
			return nil, err
		}
		m.rbuf = append(m.rbuf, buf[:n]...)
	}
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse socket control message: %w", err)
	}
	var out []int
	for _, msg := range msgs {
		fds, err := unix.ParseUnixRights(&msg)
		if err != nil {
			continue
		}
		out = append(out, fds...)
	}
	return out, nil
}

// CloseFDs closes raw file descriptors, received ones that go unused.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// Files maps the descriptors that came with r to its streams; nil for a
// stream that is not set. A count that does not match closes them all.
func (r StreamRequest) Files(fds []int) (stdin, stdout, stderr *os.File, err error) {
	want := 0
	for _, set := range []bool{r.Stdin, r.Stdout, r.Stderr} {
		if set {
			want++
		}
	}
	if len(fds) != want {
		CloseFDs(fds)
		return nil, nil, nil, fmt.Errorf("stream request with %d files for %d streams", len(fds), want)
	}
	next := func(set bool, name string) *os.File {
		if !set {
			return nil
		}
		f := os.NewFile(uintptr(fds[0]), name)
		fds = fds[1:]
		return f
	}
	stdin = next(r.Stdin, "stdin")
	stdout = next(r.Stdout, "stdout")
	stderr = next(r.Stderr, "stderr")
	return stdin, stdout, stderr, nil
}

// CloseFiles closes the files that are not nil.
func CloseFiles(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}

// SetWinsize resizes the terminal of a pty master.
func SetWinsize(f *os.File, ws Winsize) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
	})
	if err != nil {
		return err
	}
	if ioErr != nil {
		return os.NewSyscallError("ioctl(TIOCSWINSZ)", ioErr)
	}
	return nil
}
