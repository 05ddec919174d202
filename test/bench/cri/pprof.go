package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// profile fetches a CPU profile of seconds from the target daemon's pprof
// endpoint (served next to /metrics) into dir/<target>-<what>.pprof in
// the background, and with trace also a Go execution trace of the same
// window into dir/<target>-<what>.trace (where the daemon's goroutines
// blocked: `go tool trace -pprof=syscall|sync|net FILE`, focused on a
// CRI call's function, splits its wall time); the channel yields the
// errors once both are written.
func profile(ctx context.Context, t *target, dir, what string, seconds int, trace bool) <-chan []string {
	done := make(chan []string, 1)
	base := strings.TrimSuffix(t.MetricsURL, "/metrics")
	type fetch struct{ url, path string }
	fetches := []fetch{{base + fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), filepath.Join(dir, t.Name+"-"+what+".pprof")}}
	if trace {
		fetches = append(fetches, fetch{base + fmt.Sprintf("/debug/pprof/trace?seconds=%d", seconds), filepath.Join(dir, t.Name+"-"+what+".trace")})
	}
	errs := make(chan string, len(fetches))
	for _, f := range fetches {
		go func() {
			if err := fetchTo(ctx, f.url, f.path); err != nil {
				errs <- fmt.Sprintf("%s: %v", filepath.Base(f.path), err)
				return
			}
			logf("%s: %s", t.Name, f.path)
			errs <- ""
		}()
	}
	go func() {
		var out []string
		for range fetches {
			if e := <-errs; e != "" {
				out = append(out, e)
			}
		}
		done <- out
	}()
	return done
}

func fetchTo(ctx context.Context, url, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
