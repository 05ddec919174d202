package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
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
	m := newMsgConn(conn)
	defer m.Close()
	defer s.trim.Poke()
	_ = conn.SetReadDeadline(time.Now().Add(streamRequestTimeout))
	var req streamRequest
	fds, err := m.recv(&req)
	if err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	stdin, stdout, stderr, err := streamFiles(req, fds)
	if err != nil {
		_ = m.send(streamMsg{Error: encodeErr(fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)).Error()})
		return
	}
	switch req.Op {
	case opExec:
		err = s.streamExec(m, req, stdin, stdout, stderr)
	case opAttach:
		err = s.streamAttach(m, req, stdin, stdout, stderr)
	default:
		closeFiles(stdin, stdout, stderr)
		err = fmt.Errorf("stream operation %q: %w", req.Op, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		_ = m.send(streamMsg{Error: encodeErr(err).Error()})
	}
}

// streamExec starts a process on the daemon's files and reports its exit.
// Errors before the start are returned; after it, they end the session.
func (s *Server) streamExec(m *msgConn, req streamRequest, stdin, stdout, stderr *os.File) error {
	c, err := s.get(req.ID)
	if err == nil && c.isExited() {
		err = fmt.Errorf("exec in container %s: it is not running: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	if err == nil && (req.Process == nil || len(req.Process.Args) == 0) {
		err = fmt.Errorf("exec in container %s: no command: %w", req.ID, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		closeFiles(stdin, stdout, stderr)
		return err
	}
	var master *os.File
	stdio := runtime.Stdio{Stdin: stdin, Stdout: stdout, Stderr: stderr, OnConsole: func(f *os.File) { master = f }}
	pid, err := c.exec.Exec(context.Background(), req.ID, req.Process, stdio)
	closeFiles(stdin, stdout, stderr)
	if err != nil {
		closeFiles(master)
		return err
	}
	exits := s.cfg.Exits.Wait(pid)
	started := streamMsg{Started: true, Pid: pid}
	if master != nil {
		_ = setONLCR(master)
		err = m.send(started, master)
		// The daemon holds the terminal now; the shim keeps no copy, so
		// that the session's end hangs the terminal up.
		_ = master.Close()
	} else {
		err = m.send(started)
	}
	e := <-exits
	if err == nil {
		_ = m.send(streamMsg{Exited: true, ExitCode: e.Status})
	}
	return nil
}

// streamAttach joins a session to the container's stdio until the
// container exits or the daemon hangs up.
func (s *Server) streamAttach(m *msgConn, req streamRequest, stdin, stdout, stderr *os.File) error {
	c, err := s.get(req.ID)
	if err == nil && c.isExited() {
		err = fmt.Errorf("attach to container %s: it is not running: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		closeFiles(stdin, stdout, stderr)
		return err
	}
	c.mu.Lock()
	console, cstdin := c.console, c.stdin
	c.mu.Unlock()
	if console != nil {
		// A terminal has one output stream, reported as stdout.
		closeFiles(stderr)
		stderr = nil
	}
	cl, err := newAttachClient(m, stdout, stderr)
	if err != nil {
		closeFiles(stdin)
		return err
	}
	if !c.hub.add(cl) {
		cl.release()
		closeFiles(stdin)
		return fmt.Errorf("attach to container %s: it is not running: %w", req.ID, errdefs.ErrFailedPrecondition)
	}
	defer func() {
		c.hub.remove(cl)
		cl.finish(streamMsg{})
	}()
	if err := m.send(streamMsg{Started: true, Pid: c.pid()}); err != nil {
		closeFiles(stdin)
		return nil
	}
	if stdin != nil {
		if cstdin == nil {
			// The container was created without stdin: nothing to feed.
			closeFiles(stdin)
		} else {
			go c.feedStdin(stdin, cstdin, req.CloseStdin && console == nil)
		}
	}
	// Resizes until the daemon hangs up or the hub ends the session.
	for {
		var msg streamMsg
		fds, err := m.recv(&msg)
		closeFDs(fds)
		if err != nil {
			return nil
		}
		if msg.Resize != nil && console != nil {
			_ = setWinsize(console, *msg.Resize)
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
