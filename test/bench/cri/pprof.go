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
// endpoint (served next to /metrics) into dir/<target>-podstart.pprof in
// the background; the channel yields the errors once it is written.
func profile(ctx context.Context, t *target, dir string, seconds int) <-chan []string {
	done := make(chan []string, 1)
	url := strings.TrimSuffix(t.MetricsURL, "/metrics") + fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds)
	path := filepath.Join(dir, t.Name+"-podstart.pprof")
	go func() {
		if err := fetchTo(ctx, url, path); err != nil {
			done <- []string{fmt.Sprintf("cpu profile: %v", err)}
			return
		}
		logf("%s: cpu profile of cricketd in %s (go tool pprof %s)", t.Name, path, path)
		done <- nil
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
