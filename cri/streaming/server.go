package streaming

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
)

// Config says where and how the streaming server serves.
type Config struct {
	// Address is the IP (or "localhost") to listen on; empty means
	// 127.0.0.1: the URLs go to the kubelet on this node.
	Address string
	// Port to listen on; 0 picks a free one.
	Port int
	// IdleTimeout closes a stream connection idle for this long; 0 means
	// the library's default (4h).
	IdleTimeout time.Duration
	// TLS, when set, serves HTTPS.
	TLS *tls.Config
}

// Server serves the exec, attach and port-forward URLs that the CRI RPCs
// hand out. Its Get* methods are what package cri calls.
type Server struct {
	lib streaming.Server
	rt  streaming.Runtime
	// inner serves the SPDY connections unwrapped from WebSocket tunnels.
	inner       *http.Server
	pipes       *pipeListener
	idleTimeout time.Duration
	tokens      tokens
	http        *http.Server
	l           net.Listener
	done        chan error

	mu       sync.Mutex
	started  bool
	hijacked map[net.Conn]struct{}
}

// NewServer listens on cfg's address at once, so that the URLs name the
// real port even when cfg.Port is 0; Start serves.
func NewServer(cfg Config, rt streaming.Runtime) (*Server, error) {
	addr := cfg.Address
	if addr == "" {
		addr = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("streaming server: listen on %s port %d: %w", addr, cfg.Port, err)
	}
	lc := streaming.DefaultConfig
	lc.Addr = l.Addr().String()
	lc.TLSConfig = cfg.TLS
	if cfg.IdleTimeout > 0 {
		lc.StreamIdleTimeout = cfg.IdleTimeout
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	lc.BaseURL = &url.URL{Scheme: scheme, Host: lc.Addr}
	lib, err := streaming.NewServer(lc, rt)
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	s := &Server{lib: lib, rt: rt, idleTimeout: lc.StreamIdleTimeout, l: l, done: make(chan error, 1), hijacked: map[net.Conn]struct{}{}}
	// Streams are long-lived and hijacked: only the request header has a
	// deadline.
	s.pipes = newPipeListener()
	s.inner = &http.Server{Handler: lib, ReadHeaderTimeout: 30 * time.Second, ConnState: s.track}
	s.http = &http.Server{Handler: s, TLSConfig: cfg.TLS, ReadHeaderTimeout: 30 * time.Second, ConnState: s.track}
	return s, nil
}

// track remembers hijacked connections (the streams): http.Server.Close
// does not know them, Stop closes them.
func (s *Server) track(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateHijacked:
		s.hijacked[c] = struct{}{}
	case http.StateClosed:
		delete(s.hijacked, c)
	}
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.l.Addr().String() }

// Start serves in the background until Stop.
func (s *Server) Start() {
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	go func() { _ = s.inner.Serve(s.pipes) }()
	go func() {
		var err error
		if s.http.TLSConfig != nil {
			err = s.http.ServeTLS(s.l, "", "")
		} else {
			err = s.http.Serve(s.l)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
}

// Stop closes the listener and every open stream connection.
func (s *Server) Stop(ctx context.Context) error {
	err := s.http.Close()
	_ = s.inner.Close()
	_ = s.pipes.Close()
	s.mu.Lock()
	started := s.started
	for c := range s.hijacked {
		_ = c.Close()
	}
	s.hijacked = map[net.Conn]struct{}{}
	s.mu.Unlock()
	if !started {
		_ = s.l.Close()
		return err
	}
	select {
	case serveErr := <-s.done:
		if err == nil {
			err = serveErr
		}
	case <-ctx.Done():
	}
	return err
}

// GetExec returns the URL of an exec session.
func (s *Server) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	resp, err := s.lib.GetExec(req)
	if err == nil {
		s.tokens.add(resp.Url, req)
	}
	return resp, err
}

// GetAttach returns the URL of an attach session.
func (s *Server) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	resp, err := s.lib.GetAttach(req)
	if err == nil {
		s.tokens.add(resp.Url, req)
	}
	return resp, err
}

// GetPortForward returns the URL of a port-forward session.
func (s *Server) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return s.lib.GetPortForward(req)
}
