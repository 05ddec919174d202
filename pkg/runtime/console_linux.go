package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// consoleTimeout bounds the wait for a runtime to send a pty master.
const consoleTimeout = 10 * time.Second

// socketPair returns a connected pair of unix stream sockets: the
// executor keeps parent and hands child to the container's init.
func socketPair(name string) (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair(AF_UNIX, SOCK_STREAM)", err)
	}
	return os.NewFile(uintptr(fds[1]), name+"-p"), os.NewFile(uintptr(fds[0]), name+"-c"), nil
}

// recvFD receives one file descriptor sent with SCM_RIGHTS on sock.
func recvFD(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("recvmsg", err)
		}
		if n == 0 && oobn == 0 {
			return nil, errors.New("recvmsg: peer closed without sending a file descriptor")
		}
		return fileFromOOB(oob[:oobn], string(buf[:n]))
	}
}

func fileFromOOB(oob []byte, name string) (*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse socket control message: %w", err)
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds[1:] {
			_ = unix.Close(fd)
		}
		if len(fds) > 0 {
			return os.NewFile(uintptr(fds[0]), name), nil
		}
	}
	return nil, errors.New("no file descriptor in socket control message")
}

// clearONLCR stops the pty from turning "\n" into "\r\n", so log lines end
// the way the program wrote them.
func clearONLCR(f *os.File) error {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return os.NewSyscallError("ioctl(TCGETS)", err)
	}
	t.Oflag &^= unix.ONLCR
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		return os.NewSyscallError("ioctl(TCSETS)", err)
	}
	return nil
}

// deliverConsole prepares a received pty master and hands it to the caller.
func deliverConsole(stdio Stdio, master *os.File) {
	_ = clearONLCR(master)
	stdio.OnConsole(master)
}

func needConsole(id string, stdio Stdio) error {
	if stdio.OnConsole == nil {
		return fmt.Errorf("container %s: the process wants a terminal but the caller takes no console: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

// consoleListener is the --console-socket of a runc-compatible binary: a
// unix socket on which the runtime sends the pty master it created.
type consoleListener struct {
	path   string
	l      *net.UnixListener
	result chan consoleResult
}

type consoleResult struct {
	f   *os.File
	err error
}

// listenConsole listens in a new private temporary directory: state dirs
// can be too deep for the 108-byte limit of a socket path.
func listenConsole() (*consoleListener, error) {
	dir, err := os.MkdirTemp("", "cricket-console-")
	if err != nil {
		return nil, fmt.Errorf("create console socket dir: %w", err)
	}
	path := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("listen on console socket %s: %w", path, err)
	}
	c := &consoleListener{path: path, l: l, result: make(chan consoleResult, 1)}
	go c.accept()
	return c, nil
}

func (c *consoleListener) accept() {
	_ = c.l.SetDeadline(time.Now().Add(consoleTimeout))
	conn, err := c.l.AcceptUnix()
	if err != nil {
		c.result <- consoleResult{err: fmt.Errorf("accept on console socket: %w", err)}
		return
	}
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		c.result <- consoleResult{err: err}
		return
	}
	defer f.Close()
	master, err := recvFD(f)
	c.result <- consoleResult{f: master, err: err}
}

// Master waits for the runtime's pty master.
func (c *consoleListener) Master() (*os.File, error) {
	select {
	case r := <-c.result:
		return r.f, r.err
	case <-time.After(consoleTimeout):
		return nil, fmt.Errorf("no pty master on %s within %s", c.path, consoleTimeout)
	}
}

// Close stops listening and removes the socket. A master that arrived but
// was never taken with Master is closed.
func (c *consoleListener) Close(taken bool) {
	if c == nil {
		return
	}
	_ = c.l.Close()
	_ = os.Remove(c.path)
	_ = os.Remove(filepath.Dir(c.path))
	if !taken {
		go func() {
			if r := <-c.result; r.f != nil {
				_ = r.f.Close()
			}
		}()
	}
}
