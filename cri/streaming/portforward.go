package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/nsutil"
)

// dialTimeout bounds the connect to the pod's port.
const dialTimeout = 10 * time.Second

// dialFunc connects to port on the localhost of the network namespace at
// netns ("" for the host's).
type dialFunc func(ctx context.Context, netns string, port int32) (net.Conn, error)

// PortForward copies between stream and a connection to port on the pod's
// localhost. Only this stream ends when the connection fails or is reset.
func (r *Runtime) PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port-forward to pod %s: port %d out of range: %w", podSandboxID, port, errdefs.ErrInvalidArgument)
	}
	netns, err := r.pods.NetNS(ctx, podSandboxID)
	if err != nil {
		return err
	}
	conn, err := r.dial(ctx, netns, port)
	if err != nil {
		return fmt.Errorf("port-forward to port %d of pod %s: %w", port, podSandboxID, err)
	}
	defer conn.Close()
	klog.FromContext(ctx).V(4).Info("port-forward connected", "podSandboxID", podSandboxID, "port", port)
	return pipe(ctx, conn, stream)
}

// pipe copies both ways until the pod's side is done or either side
// fails; a client that is done sending half-closes the connection and
// still gets the rest of the answer.
func pipe(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	toPod := make(chan error, 1)
	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		// The client is done sending: pass the EOF on, keep reading.
		if cw, ok := conn.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
		}
		toPod <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	var first error
	select {
	case first = <-fromPod:
		// The pod closed or reset the connection: the stream is over.
	case first = <-toPod:
		if first == nil {
			// A half-close: the answer may still be coming.
			select {
			case first = <-fromPod:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if first != nil {
		return fmt.Errorf("forward %s: %w", conn.RemoteAddr(), first)
	}
	return nil
}

// dialInNetNS opens the socket inside the pod's network namespace on a
// throwaway thread (nsutil.Do) and connects it there; the connected socket
// stays in that namespace and is used from any goroutine afterwards.
func dialInNetNS(ctx context.Context, netns string, port int32) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if netns == "" {
		return dialLocalhost(ctx, port)
	}
	var conn net.Conn
	err := nsutil.Do(netns, func() error {
		var err error
		conn, err = dialLocalhost(ctx, port)
		return err
	})
	return conn, err
}

// dialLocalhost connects to 127.0.0.1, then to [::1] when nothing listens
// on the IPv4 address.
func dialLocalhost(ctx context.Context, port int32) (net.Conn, error) {
	var d net.Dialer
	p := strconv.Itoa(int(port))
	conn, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		return conn, err
	}
	if conn6, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", p)); err6 == nil {
		return conn6, nil
	}
	return nil, err
}
