package shimserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// streamRequestTimeout bounds the wait for a session's request frame.
const streamRequestTimeout = 10 * time.Second

// serveStreams accepts stream sessions on l until it is closed.
func (s *Server) serveStreams(l *net.UnixListener) {
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like
			continue
		}
		go s.serveStream(conn)
	}
}

// serveStream runs one session: an exec or an attach.
func (s *Server) serveStream(conn *net.UnixConn) {
	m := shimapi.NewStreamConn(conn)
	defer m.Close()
	defer s.trim.Poke()
	_ = conn.SetReadDeadline(time.Now().Add(streamRequestTimeout))
	var req shimapi.StreamRequest
	fds, err := m.Recv(&req)
	if err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	stdin, stdout, stderr, err := req.Files(fds)
	if err != nil {
		_ = m.Send(shimapi.StreamMessage{Error: shimapi.EncodeError(fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)).Error()})
		return
	}
	switch req.Op {
	case shimapi.OpExec:
		err = s.streamExec(m, req, stdin, stdout, stderr)
	case shimapi.OpAttach:
		err = s.streamAttach(m, req, stdin, stdout, stderr)
	default:
		shimapi.CloseFiles(stdin, stdout, stderr)
		err = fmt.Errorf("stream operation %q: %w", req.Op, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		_ = m.Send(shimapi.StreamMessage{Error: shimapi.EncodeError(err).Error()})
	}
}

// streamExec starts a process on the daemon's files and reports its exit.
// Errors before the start are returned; after it, they end the session.
func (s *Server) streamExec(m *shimapi.StreamConn, req shimapi.StreamRequest, stdin, stdout, stderr *os.File) error {
	c, err := s.get(req.ID)
	if err == nil && c.isExited() {
		err = fmt.Errorf("exec in container %s: it is not running: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	if err == nil && (req.Process == nil || len(req.Process.Args) == 0) {
		err = fmt.Errorf("exec in container %s: no command: %w", req.ID, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		shimapi.CloseFiles(stdin, stdout, stderr)
		return err
	}
	var master *os.File
	stdio := runtime.Stdio{Stdin: stdin, Stdout: stdout, Stderr: stderr, OnConsole: func(f *os.File) { master = f }}
	pid, err := c.exec.Exec(context.Background(), req.ID, req.Process, stdio)
	shimapi.CloseFiles(stdin, stdout, stderr)
	if err != nil {
		shimapi.CloseFiles(master)
		return err
	}
	exits := s.cfg.Exits.Wait(pid)
	started := shimapi.StreamMessage{Started: true, Pid: pid}
	if master != nil {
		_ = setONLCR(master)
		err = m.Send(started, master)
		// The daemon holds the terminal now; the shim keeps no copy, so
		// that the session's end hangs the terminal up.
		_ = master.Close()
	} else {
		err = m.Send(started)
	}
	e := <-exits
	if err == nil {
		_ = m.Send(shimapi.StreamMessage{Exited: true, ExitCode: e.Status})
	}
	return nil
}

// streamAttach joins a session to the container's stdio until the
// container exits or the daemon hangs up.
func (s *Server) streamAttach(m *shimapi.StreamConn, req shimapi.StreamRequest, stdin, stdout, stderr *os.File) error {
	c, err := s.get(req.ID)
	if err == nil && c.isExited() {
		err = fmt.Errorf("attach to container %s: it is not running: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		shimapi.CloseFiles(stdin, stdout, stderr)
		return err
	}
	c.mu.Lock()
	console, cstdin := c.console, c.stdin
	c.mu.Unlock()
	if console != nil {
		// A terminal has one output stream, reported as stdout.
		shimapi.CloseFiles(stderr)
		stderr = nil
	}
	cl, err := newAttachClient(m, stdout, stderr)
	if err != nil {
		shimapi.CloseFiles(stdin)
		return err
	}
	if !c.hub.add(cl) {
		cl.release()
		shimapi.CloseFiles(stdin)
		return fmt.Errorf("attach to container %s: it is not running: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	defer func() {
		c.hub.remove(cl)
		cl.finish(shimapi.StreamMessage{})
	}()
	if err := m.Send(shimapi.StreamMessage{Started: true, Pid: c.pid()}); err != nil {
		shimapi.CloseFiles(stdin)
		return nil
	}
	if stdin != nil {
		if cstdin == nil {
			// The container was created without stdin: nothing to feed.
			shimapi.CloseFiles(stdin)
		} else {
			go c.feedStdin(stdin, cstdin, req.CloseStdin && console == nil)
		}
	}
	// Resizes until the daemon hangs up or the hub ends the session.
	for {
		var msg shimapi.StreamMessage
		fds, err := m.Recv(&msg)
		shimapi.CloseFDs(fds)
		if err != nil {
			return nil
		}
		if msg.Resize != nil && console != nil {
			_ = shimapi.SetWinsize(console, *msg.Resize)
		}
	}
}

func (c *container) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Pid
}

// feedStdin copies an attach session's input to the container's stdin. A
// container that does not read blocks only this copy.
func (c *container) feedStdin(from, to *os.File, closeAtEOF bool) {
	defer from.Close()
	buf := make([]byte, 4096)
	_, err := io.CopyBuffer(writerOnly{to}, from, buf)
	if err != nil || !closeAtEOF {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stdin == to {
		_ = to.Close()
		c.stdin = nil
	}
}

// writerOnly hides ReadFrom, so that CopyBuffer uses the small buffer.
type writerOnly struct{ io.Writer }

// setONLCR makes the pty turn "\n" into "\r\n" again, as a terminal that a
// person reads expects; the runtime clears it so that logs keep their
// line ends, which an interactive exec has no use for.
func setONLCR(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = os.NewSyscallError("ioctl(TCGETS)", err)
			return
		}
		t.Oflag |= unix.ONLCR | unix.OPOST
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			ioErr = os.NewSyscallError("ioctl(TCSETS)", err)
		}
	})
	if err != nil {
		return err
	}
	return ioErr
}
