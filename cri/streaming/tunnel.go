package streaming

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/websocket"
	"k8s.io/klog/v2"
)

// client-go's WebSocket port-forward (crictl port-forward --transport
// websocket) tunnels a SPDY connection through a WebSocket whose
// subprotocol is "SPDY/3.1+" and the port-forward protocol; the apiserver
// unwraps it for the kubelet. Server unwraps it itself: it upgrades the
// WebSocket, replays the SPDY upgrade request to the library over an
// in-memory connection, drops the library's "101 Switching Protocols"
// (the client expects SPDY frames at once) and then copies bytes both
// ways.

// tunnelPrefix marks a tunnelled SPDY subprotocol.
const tunnelPrefix = "SPDY/3.1+"

// tunnelProtocols lists the tunnelled port-forward protocols, best first.
var tunnelProtocols = []string{tunnelPrefix + "portforward.k8s.io"}

// isTunnelRequest tells a WebSocket request for a SPDY tunnel.
func isTunnelRequest(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.HasPrefix(strings.TrimSpace(p), tunnelPrefix) {
				return true
			}
		}
	}
	return false
}

// serveTunnel serves a tunnelled port-forward request.
func (s *Server) serveTunnel(w http.ResponseWriter, r *http.Request) {
	var chosen string
	ws := websocket.Server{
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			for _, want := range tunnelProtocols {
				for _, p := range cfg.Protocol {
					if p == want {
						chosen = p
						cfg.Protocol = []string{p}
						return nil
					}
				}
			}
			return fmt.Errorf("no supported tunnel protocol in %q", cfg.Protocol)
		},
		Handler: func(conn *websocket.Conn) {
			conn.PayloadType = websocket.BinaryFrame
			if err := s.bridge(conn, r.URL.Path, strings.TrimPrefix(chosen, tunnelPrefix)); err != nil {
				klog.FromContext(r.Context()).Error(err, "port-forward tunnel", "path", r.URL.Path)
			}
		},
	}
	ws.ServeHTTP(w, r)
}

// bridge replays the SPDY upgrade of path to the library and splices the
// upgraded connection with the tunnel.
func (s *Server) bridge(tunnel *websocket.Conn, path, protocol string) error {
	inner, outer := net.Pipe()
	defer outer.Close()
	if !s.pipes.push(inner) {
		return fmt.Errorf("streaming server stopped")
	}
	upgrade := "GET " + path + " HTTP/1.1\r\nHost: tunnel\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
		"X-Stream-Protocol-Version: " + protocol + "\r\n\r\n"
	if _, err := io.WriteString(outer, upgrade); err != nil {
		return fmt.Errorf("replay upgrade: %w", err)
	}
	br := bufio.NewReader(outer)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("read upgrade response: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade answered %s", resp.Status)
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(outer, tunnel)
		_ = outer.Close()
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(tunnel, br)
		_ = tunnel.Close()
		done <- struct{}{}
	}()
	<-done
	_ = outer.Close()
	_ = tunnel.Close()
	<-done
	return nil
}

// pipeListener hands in-memory connections to an http.Server.
type pipeListener struct {
	mu     sync.Mutex
	closed bool
	conns  chan net.Conn
	done   chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server; false once the listener is closed.
func (l *pipeListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		_ = c.Close()
		return false
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "tunnel" }
