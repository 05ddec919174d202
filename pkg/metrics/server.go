package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics and, when enabled, /debug/pprof/.
type Server struct {
	l    net.Listener
	http *http.Server
}

// Listen binds addr ("127.0.0.1:9090"; port 0 picks one) and prepares the
// handlers; Serve starts answering.
func Listen(addr string, withPprof bool) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &Server{l: l, http: &http.Server{Handler: mux}}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.l.Addr().String() }

// Serve answers until Stop; it returns nil after Stop.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Stop ends the server, waiting for in-flight scrapes up to ctx.
func (s *Server) Stop(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}
