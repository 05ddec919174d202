// Package admin is cricketd's administration endpoint: HTTP on a unix
// socket in the state directory, root-only, for what the CRI API has no
// call for. It serves one request today, the import of an image archive
// (`cricketd image import` on a node whose daemon runs).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image"
)

// SocketName is the endpoint's socket in the daemon's state directory.
const SocketName = "admin.sock"

// importPath is the URL path of an import; its query carries the
// ImportOptions (platform, all-platforms) and its body the archive.
const importPath = "/v1/images/import"

// Socket is the endpoint's socket for the state directory state.
func Socket(state string) string { return filepath.Join(state, SocketName) }

// Importer imports image archives (image.Service).
type Importer interface {
	ImportReader(ctx context.Context, r io.Reader, opts image.ImportOptions) ([]image.Image, error)
}

// Imported is one image an import recorded, as the endpoint answers.
type Imported struct {
	ID       string   `json:"id"`
	RepoTags []string `json:"repoTags,omitempty"`
}

type answer struct {
	Images []Imported `json:"images,omitempty"`
	Error  string     `json:"error,omitempty"`
}

// Handler serves the endpoint's requests over imp.
func Handler(imp Importer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+importPath, func(w http.ResponseWriter, r *http.Request) {
		all, _ := strconv.ParseBool(r.URL.Query().Get("all-platforms"))
		opts := image.ImportOptions{Platform: r.URL.Query().Get("platform"), AllPlatforms: all}
		log := klog.FromContext(r.Context()).WithValues("platform", opts.Platform, "allPlatforms", all)
		ims, err := imp.ImportReader(klog.NewContext(r.Context(), log), r.Body, opts)
		var a answer
		for _, im := range ims {
			a.Images = append(a.Images, Imported{ID: im.ID, RepoTags: im.RepoTags})
		}
		status := http.StatusOK
		if err != nil {
			log.Error(err, "image import")
			a.Error, status = err.Error(), httpStatus(err)
		} else {
			log.Info("imported images", "images", a.Images)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(a)
	})
	return mux
}

func httpStatus(err error) int {
	switch {
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// Server is the running endpoint.
type Server struct {
	srv    *http.Server
	served chan error
}

// Serve serves the endpoint on l until Stop.
func Serve(l net.Listener, imp Importer) *Server {
	s := &Server{srv: &http.Server{Handler: Handler(imp), ReadHeaderTimeout: 10 * time.Second}, served: make(chan error, 1)}
	go func() { s.served <- s.srv.Serve(l) }()
	return s
}

// Stop ends the endpoint, letting imports under way finish within ctx.
func (s *Server) Stop(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// ErrNoDaemon is returned by Import when no daemon answers on the socket.
var ErrNoDaemon = errors.New("no cricketd answers")

// Import sends the archive read from r to the daemon on socket and
// returns what it imported; ErrNoDaemon when nothing listens there.
func Import(ctx context.Context, socket string, r io.Reader, opts image.ImportOptions) ([]Imported, error) {
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	q := url.Values{}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	if opts.AllPlatforms {
		q.Set("all-platforms", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://cricketd"+importPath+"?"+q.Encode(), r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w on %s: %w", ErrNoDaemon, socket, err)
		}
		return nil, fmt.Errorf("import through %s: %w", socket, err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("answer of %s (%s): %w", socket, resp.Status, err)
	}
	if a.Error != "" {
		return a.Images, fmt.Errorf("cricketd: %s", a.Error)
	}
	return a.Images, nil
}
