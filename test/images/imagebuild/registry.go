package imagebuild

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Registry is go-containerregistry's in-memory OCI registry served over
// plain HTTP on a loopback address, counting the requests it answers.
type Registry struct {
	// Addr is the host:port the registry listens on, e.g. "127.0.0.1:41234".
	Addr string

	srv  *http.Server
	done chan error

	mu     sync.Mutex
	counts map[string]int // "METHOD /v2/..." -> requests
}

// StartRegistry serves a new, empty registry on addr ("127.0.0.1:0" picks a
// free port). Only loopback addresses are accepted: test traffic must stay on
// the machine.
func StartRegistry(addr string) (*Registry, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("registry address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("registry address %q: only loopback IP addresses are allowed (use 127.0.0.1:PORT)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	r := &Registry{Addr: ln.Addr().String(), done: make(chan error, 1), counts: map[string]int{}}
	handler := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = &http.Server{Handler: r.count(handler), ReadHeaderTimeout: 30 * time.Second}
	go func() { r.done <- r.srv.Serve(ln) }()
	return r, nil
}

func (r *Registry) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.counts[req.Method+" "+req.URL.Path]++
		r.mu.Unlock()
		next.ServeHTTP(w, req)
	})
}

// Close stops the registry and drops its content.
func (r *Registry) Close() error {
	err := r.srv.Close()
	if serveErr := <-r.done; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve registry %s: %w", r.Addr, serveErr)
	}
	return err
}

// Requests is how many requests with this method and URL path the registry
// has answered, e.g. Requests("GET", "/v2/library/busybox/manifests/latest").
func (r *Registry) Requests(method, path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[method+" "+path]
}

// RequestCounts returns a copy of all counters, keyed "METHOD /path".
func (r *Registry) RequestCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// BlobGets is how many times the blob was fetched (GET .../blobs/<digest>),
// summed over every repository.
func (r *Registry) BlobGets(digest v1.Hash) int {
	suffix := "/blobs/" + digest.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, v := range r.counts {
		if strings.HasPrefix(k, "GET ") && strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}

// TotalBlobGets is how many blob GETs the registry has answered in total.
func (r *Registry) TotalBlobGets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, v := range r.counts {
		if strings.HasPrefix(k, "GET ") && strings.Contains(k, "/blobs/sha256:") {
			n += v
		}
	}
	return n
}

// ResetCounts zeroes every counter (for example after pushing).
func (r *Registry) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts = map[string]int{}
}

// CountKeys lists the counted "METHOD /path" keys, sorted.
func (r *Registry) CountKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.counts))
	for k := range r.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
