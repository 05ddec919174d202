package shimapi

import (
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// socketPair returns the two ends of a connected unix stream socket.
func socketPair(t *testing.T) (*StreamConn, *StreamConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *StreamConn {
		f := os.NewFile(uintptr(fd), "socket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		m := NewStreamConn(c.(*net.UnixConn))
		t.Cleanup(func() { m.Close() })
		return m
	}
	return conn(fds[0]), conn(fds[1])
}

func TestStreamConnCarriesFrameAndFiles(t *testing.T) {
	a, b := socketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	req := StreamRequest{Op: OpAttach, ID: "c1", Stdout: true}
	if err := a.Send(req, w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var got StreamRequest
	fds, err := b.Recv(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != OpAttach || got.ID != "c1" || !got.Stdout || got.Stdin {
		t.Fatalf("received %+v, want %+v", got, req)
	}
	stdin, stdout, stderr, err := got.Files(fds)
	if err != nil {
		t.Fatal(err)
	}
	if stdin != nil || stderr != nil || stdout == nil {
		t.Fatalf("files stdin=%v stdout=%v stderr=%v, want stdout only", stdin, stdout, stderr)
	}
	// The received file is the pipe's write end.
	if _, err := io.WriteString(stdout, "x"); err != nil {
		t.Fatal(err)
	}
	stdout.Close()
	if data, err := io.ReadAll(r); err != nil || string(data) != "x" {
		t.Fatalf("pipe read %q, %v; want \"x\"", data, err)
	}
	// The peer's CloseWrite ends the stream after the frames sent before.
	if err := a.Send(StreamMessage{Exited: true, ExitCode: 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var msg StreamMessage
	if _, err := b.Recv(&msg); err != nil || !msg.Exited || msg.ExitCode != 3 {
		t.Fatalf("Recv = %+v, %v; want the exit", msg, err)
	}
	if _, err := b.Recv(&msg); err == nil {
		t.Fatal("Recv after CloseWrite succeeded, want the end of the stream")
	}
}

func TestStreamRequestFiles(t *testing.T) {
	cases := []struct {
		desc    string
		req     StreamRequest
		files   int
		wantErr bool
	}{
		{desc: "none", req: StreamRequest{}, files: 0},
		{desc: "all three", req: StreamRequest{Stdin: true, Stdout: true, Stderr: true}, files: 3},
		{desc: "missing files", req: StreamRequest{Stdin: true, Stdout: true}, files: 0, wantErr: true},
		{desc: "too many files", req: StreamRequest{Stdout: true}, files: 2, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var fds []int
			for range tc.files {
				fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				fds = append(fds, fd)
			}
			stdin, stdout, stderr, err := tc.req.Files(fds)
			defer CloseFiles(stdin, stdout, stderr)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				// The descriptors were closed.
				for _, fd := range fds {
					if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
						t.Errorf("fd %d still open", fd)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct {
				set bool
				f   *os.File
			}{{tc.req.Stdin, stdin}, {tc.req.Stdout, stdout}, {tc.req.Stderr, stderr}} {
				if s.set != (s.f != nil) {
					t.Errorf("stream set=%v got file %v", s.set, s.f)
				}
			}
		})
	}
}
