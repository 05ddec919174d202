package shimclient

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// attachPipeSize is the kernel buffer between the shim and an attach
// session: how far a session may fall behind the container's output before
// the shim cuts it off. Pages are only allocated as they fill.
const attachPipeSize = 1 << 20

// ioDrainTimeout bounds how long a session waits for the last output once
// the process exited: a daemonised grandchild may hold the pipe open
// forever. (The shim waits as long for a container's last output.)
const ioDrainTimeout = 2 * time.Second

// StreamExecRequest runs a process in a container with its stdio streamed.
type StreamExecRequest struct {
	ID string
	// Process is run as is; Process.Terminal asks for a pty, which then
	// carries stdin and stdout (Stderr is not used).
	Process *specs.Process
	// Nil streams are /dev/null.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Resize carries terminal size changes; nil for none.
	Resize <-chan shimapi.Winsize
}

// StreamAttachRequest joins a running container's stdio.
type StreamAttachRequest struct {
	ID string
	// Nil streams are not attached. A terminal container's output goes to
	// Stdout.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// CloseStdin closes the container's stdin when Stdin ends (stdin_once).
	CloseStdin bool
	// Resize carries terminal size changes; nil for none.
	Resize <-chan shimapi.Winsize
}

// Streams opens exec and attach sessions with a pod's shim. It holds no
// connection: every session dials one of its own, so a stuck session
// never delays another or the shim's API.
type Streams struct {
	sock string
}

// NewStreams returns the stream client of the shim serving stateDir.
func NewStreams(stateDir string) *Streams { return &Streams{sock: shimapi.StreamSocketPath(stateDir)} }

// Streams returns the stream client of c's shim.
func (c *Client) Streams() *Streams {
	return NewStreams(filepath.Dir(c.sock))
}

func (s *Streams) dial(ctx context.Context) (*shimapi.StreamConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", s.sock)
	if err != nil {
		return nil, fmt.Errorf("connect to shim streams %s: %w: %w", s.sock, err, errdefs.ErrUnavailable)
	}
	return shimapi.NewStreamConn(conn.(*net.UnixConn)), nil
}

// Exec runs req.Process in the container and returns its exit code once it
// exited and its output was copied. A process that cannot be started (a
// missing binary) is an error at once.
func (s *Streams) Exec(ctx context.Context, req StreamExecRequest) (int, error) {
	if req.Process == nil || len(req.Process.Args) == 0 {
		return 0, fmt.Errorf("exec in container %s: no command: %w", req.ID, errdefs.ErrInvalidArgument)
	}
	tty := req.Process.Terminal
	p := &sessionPipes{}
	if !tty {
		if err := p.open(req.Stdin != nil, req.Stdout != nil, req.Stderr != nil, false); err != nil {
			return 0, err
		}
	}
	defer p.closeLocal()
	m, err := s.dial(ctx)
	if err != nil {
		p.closeRemote()
		return 0, err
	}
	defer m.Close()
	stop := context.AfterFunc(ctx, func() { _ = m.Hangup() })
	defer stop()
	sreq := shimapi.StreamRequest{Op: shimapi.OpExec, ID: req.ID, Process: req.Process, Stdin: p.remoteIn != nil, Stdout: p.remoteOut != nil, Stderr: p.remoteErr != nil}
	err = m.Send(sreq, p.remote()...)
	p.closeRemote()
	if err != nil {
		return 0, s.fail(ctx, "exec in container "+req.ID, err)
	}
	var started shimapi.StreamMessage
	fds, err := m.Recv(&started)
	if err != nil {
		return 0, s.fail(ctx, "exec in container "+req.ID, err)
	}
	if started.Error != "" {
		shimapi.CloseFDs(fds)
		return 0, shimapi.DecodeError(started.Error)
	}
	if tty {
		if err := p.takeMaster(fds); err != nil {
			return 0, fmt.Errorf("exec in container %s: %w", req.ID, err)
		}
	} else {
		shimapi.CloseFDs(fds)
	}
	outputs := p.copy(req.Stdin, req.Stdout, req.Stderr, nil)
	if p.master != nil {
		go p.resize(req.Resize, func(ws shimapi.Winsize) { _ = shimapi.SetWinsize(p.master, ws) })
	}
	var exit shimapi.StreamMessage
	_, err = m.Recv(&exit)
	p.drain(outputs)
	if err != nil || !exit.Exited {
		if exit.Error != "" {
			return 0, shimapi.DecodeError(exit.Error)
		}
		return 0, s.fail(ctx, "exec in container "+req.ID, err)
	}
	return exit.ExitCode, nil
}

// Attach copies the container's output to req's writers and req.Stdin to
// the container until the container exits, the shim cuts the session off
// (it fell too far behind), ctx ends or a writer fails.
func (s *Streams) Attach(ctx context.Context, req StreamAttachRequest) error {
	p := &sessionPipes{}
	if err := p.open(req.Stdin != nil, req.Stdout != nil, req.Stderr != nil, true); err != nil {
		return err
	}
	defer p.closeLocal()
	m, err := s.dial(ctx)
	if err != nil {
		p.closeRemote()
		return err
	}
	defer m.Close()
	stop := context.AfterFunc(ctx, func() { _ = m.Hangup() })
	defer stop()
	sreq := shimapi.StreamRequest{Op: shimapi.OpAttach, ID: req.ID, Stdin: p.remoteIn != nil, Stdout: p.remoteOut != nil, Stderr: p.remoteErr != nil, CloseStdin: req.CloseStdin}
	err = m.Send(sreq, p.remote()...)
	p.closeRemote()
	if err != nil {
		return s.fail(ctx, "attach to container "+req.ID, err)
	}
	var started shimapi.StreamMessage
	fds, err := m.Recv(&started)
	shimapi.CloseFDs(fds)
	if err != nil {
		return s.fail(ctx, "attach to container "+req.ID, err)
	}
	if started.Error != "" {
		return shimapi.DecodeError(started.Error)
	}
	// A writer that fails (the client went away) ends the session.
	outputs := p.copy(req.Stdin, req.Stdout, req.Stderr, func() { _ = m.Hangup() })
	go p.resize(req.Resize, func(ws shimapi.Winsize) { _ = m.Send(shimapi.StreamMessage{Resize: &ws}) })
	var end shimapi.StreamMessage
	_, err = m.Recv(&end)
	p.drain(outputs)
	if end.Error != "" {
		return shimapi.DecodeError(end.Error)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// fail explains an error of the session's connection.
func (s *Streams) fail(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%s: shim streams %s: %w: %w", what, s.sock, err, errdefs.ErrUnavailable)
}

// sessionPipes are the daemon's pipes of one session: the local ends it
// copies through, the remote ends it hands to the shim, and the pty master
// of a terminal exec.
type sessionPipes struct {
	localIn, localOut, localErr    *os.File
	remoteIn, remoteOut, remoteErr *os.File
	master                         *os.File
	done                           chan struct{}
	once                           sync.Once
}

// open creates the pipes of the streams asked for; big makes the output
// pipes large enough to absorb bursts of an attached container's output.
func (p *sessionPipes) open(stdin, stdout, stderr, big bool) error {
	p.done = make(chan struct{})
	var err error
	if stdin {
		p.remoteIn, p.localIn, err = os.Pipe()
	}
	if err == nil && stdout {
		p.localOut, p.remoteOut, err = os.Pipe()
	}
	if err == nil && stderr {
		p.localErr, p.remoteErr, err = os.Pipe()
	}
	if err != nil {
		p.closeRemote()
		p.closeLocal()
		return fmt.Errorf("create stream pipes: %w", err)
	}
	if big {
		for _, f := range []*os.File{p.localOut, p.localErr} {
			if f != nil {
				growPipe(f)
			}
		}
	}
	return nil
}

// growPipe raises a pipe's capacity; the default stays when it cannot.
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, attachPipeSize) })
	}
}

func (p *sessionPipes) remote() []*os.File {
	var out []*os.File
	for _, f := range []*os.File{p.remoteIn, p.remoteOut, p.remoteErr} {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

func (p *sessionPipes) closeRemote() { shimapi.CloseFiles(p.remoteIn, p.remoteOut, p.remoteErr) }

func (p *sessionPipes) closeLocal() {
	if p.done != nil {
		p.once.Do(func() { close(p.done) })
	}
	shimapi.CloseFiles(p.localIn, p.localOut, p.localErr, p.master)
}

// takeMaster adopts the pty master the shim sent; it serves as stdin and
// stdout.
func (p *sessionPipes) takeMaster(fds []int) error {
	if len(fds) != 1 {
		shimapi.CloseFDs(fds)
		return fmt.Errorf("shim sent %d files for a terminal, want 1", len(fds))
	}
	// Non-blocking, so that reads park in the poller, not on a thread.
	_ = unix.SetNonblock(fds[0], true)
	p.master = os.NewFile(uintptr(fds[0]), "pty")
	p.done = make(chan struct{})
	return nil
}

// copy starts the copies: stdin to the process (closing its pipe at EOF),
// outputs to the writers. It returns a channel closed when every output
// reached EOF. onWriteErr runs when a writer fails.
func (p *sessionPipes) copy(stdin io.Reader, stdout, stderr io.Writer, onWriteErr func()) <-chan struct{} {
	in, out, errOut := p.localIn, p.localOut, p.localErr
	if p.master != nil {
		in, out, errOut = p.master, p.master, nil
	}
	if stdin != nil && in != nil {
		go func() {
			_, _ = io.Copy(in, stdin)
			if in != p.master {
				_ = in.Close()
			}
		}()
	}
	var wg sync.WaitGroup
	for _, pair := range []struct {
		w io.Writer
		r *os.File
	}{{stdout, out}, {stderr, errOut}} {
		if pair.w == nil || pair.r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := copyOut(pair.w, pair.r); err != nil && onWriteErr != nil {
				onWriteErr()
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// copyOut copies r to w until r ends; it returns an error only when w
// failed. A pty read fails with EIO once the terminal hung up: that is its
// end of file.
func copyOut(w io.Writer, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

// resize applies sizes from ch until it closes or the session ends.
func (p *sessionPipes) resize(ch <-chan shimapi.Winsize, apply func(shimapi.Winsize)) {
	if ch == nil {
		return
	}
	for {
		select {
		case ws, ok := <-ch:
			if !ok {
				return
			}
			apply(ws)
		case <-p.done:
			return
		}
	}
}

// drain waits for the outputs' last bytes; a background process that
// keeps the pipes open gets ioDrainTimeout, then the pipes are closed. A
// copy stuck in a writer that never returns is left behind: it ends with
// its writer.
func (p *sessionPipes) drain(outputs <-chan struct{}) {
	select {
	case <-outputs:
	case <-time.After(ioDrainTimeout):
		p.closeLocal()
	}
}
