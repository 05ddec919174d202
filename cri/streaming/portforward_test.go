package streaming

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/nsutil"
	"github.com/cricket-cri/cricket/test/testutil"
)

// clientStream is the client's side of a port-forward stream: the test
// talks on one end of a socket pair, PortForward gets the other.
func clientStream(t *testing.T) (test, stream *net.UnixConn) {
	t.Helper()
	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func socketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		conns[i] = c.(*net.UnixConn)
	}
	return conns[0], conns[1], nil
}

// serve accepts on l and runs handle for each connection.
func serve(t *testing.T, l net.Listener, handle func(net.Conn)) {
	t.Helper()
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
}

// echoUntilEOF answers everything it read, after the client half-closed.
func echoUntilEOF(c net.Conn) {
	defer c.Close()
	data, _ := io.ReadAll(c)
	_, _ = c.Write(append([]byte("echo:"), data...))
}

func listenLocal(t *testing.T) (net.Listener, int32) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l, int32(l.Addr().(*net.TCPAddr).Port)
}

func TestPortForward(t *testing.T) {
	l, port := listenLocal(t)
	serve(t, l, echoUntilEOF)
	rt := NewRuntime(fakeLookup{}, fakeLookup{netns: map[string]string{"p1": ""}})
	test, stream := clientStream(t)
	done := make(chan error, 1)
	go func() { done <- rt.PortForward(context.Background(), "p1", port, stream) }()
	if _, err := test.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = test.CloseWrite()
	got, _ := io.ReadAll(test)
	if string(got) != "echo:ping" {
		t.Fatalf("got %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("PortForward = %v", err)
	}
}

func TestPortForwardErrors(t *testing.T) {
	l, port := listenLocal(t)
	// The pod resets every connection.
	serve(t, l, func(c net.Conn) {
		_ = c.(*net.TCPConn).SetLinger(0)
		buf := make([]byte, 1)
		_, _ = c.Read(buf)
		c.Close()
	})
	closed, closedPort := listenLocal(t)
	closed.Close()
	rt := NewRuntime(fakeLookup{}, fakeLookup{netns: map[string]string{"p1": ""}})
	cases := []struct {
		desc      string
		pod       string
		port      int32
		wantClass error
	}{
		{desc: "missing pod", pod: "nope", port: port, wantClass: errdefs.ErrNotFound},
		{desc: "bad port", pod: "p1", port: 0, wantClass: errdefs.ErrInvalidArgument},
		{desc: "nothing listens", pod: "p1", port: closedPort},
		{desc: "reset ends the stream with an error", pod: "p1", port: port},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			test, stream := clientStream(t)
			_, _ = test.Write([]byte("x"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := rt.PortForward(ctx, tc.pod, tc.port, stream)
			if err == nil || (tc.wantClass != nil && !errors.Is(err, tc.wantClass)) {
				t.Fatalf("err = %v, want an error of class %v", err, tc.wantClass)
			}
			if ctx.Err() != nil {
				t.Fatal("PortForward waited for the deadline")
			}
		})
	}
	// The runtime still forwards after a reset.
	l2, port2 := listenLocal(t)
	serve(t, l2, echoUntilEOF)
	test, stream := clientStream(t)
	go func() { _ = rt.PortForward(context.Background(), "p1", port2, stream) }()
	_, _ = test.Write([]byte("again"))
	_ = test.CloseWrite()
	if got, _ := io.ReadAll(test); string(got) != "echo:again" {
		t.Fatalf("after a reset: got %q", got)
	}
}

// TestPortForwardIntoNetNS dials a port that only exists in a pod's own
// network namespace.
func TestPortForwardIntoNetNS(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	pinned, err := nsutil.Create(dir, nsutil.Options{Kinds: []nsutil.Kind{nsutil.Net}, LoopbackUp: true})
	if err != nil {
		t.Fatal(err)
	}
	netns := pinned[nsutil.Net]
	t.Cleanup(func() { _ = nsutil.Unpin(netns) })
	var l net.Listener
	if err := nsutil.Do(netns, func() error {
		var err error
		l, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	serve(t, l, echoUntilEOF)
	port := int32(l.Addr().(*net.TCPAddr).Port)
	if c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(int(port)), time.Second); err == nil {
		c.Close()
		t.Skip("the host happens to listen on the same port")
	}
	rt := NewRuntime(fakeLookup{}, fakeLookup{netns: map[string]string{"p1": netns}})
	test, stream := clientStream(t)
	done := make(chan error, 1)
	go func() { done <- rt.PortForward(context.Background(), "p1", port, stream) }()
	_, _ = test.Write([]byte("in the pod"))
	_ = test.CloseWrite()
	if got, _ := io.ReadAll(test); string(got) != "echo:in the pod" {
		t.Fatalf("got %q", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
