package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEndpointServesHistograms(t *testing.T) {
	cases := []struct {
		desc      string
		pprof     bool
		wantPprof int
	}{
		{desc: "metrics only", pprof: false, wantPprof: http.StatusNotFound},
		{desc: "with pprof", pprof: true, wantPprof: http.StatusOK},
	}
	RequestDuration.WithLabelValues("Version", "OK").Observe(0.001)
	ObservePhase(PhaseCNI, time.Now().Add(-20*time.Millisecond))
	_, _ = io.Copy(io.Discard, CountingReader{R: strings.NewReader("12345")})
	if err := RegisterShimCount(func() float64 { return 3 }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := Listen("127.0.0.1:0", tc.pprof)
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = s.Serve() }()
			defer s.Stop(context.Background())
			body := get(t, "http://"+s.Addr()+"/metrics", http.StatusOK)
			for _, want := range []string{
				`cricket_cri_request_duration_seconds_bucket{code="OK",rpc="Version"`,
				`cricket_pod_start_phase_duration_seconds_count{phase="cni"} `,
				"cricket_image_pull_bytes_total ",
				"cricket_shims 3",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("scrape lacks %q", want)
				}
			}
			get(t, "http://"+s.Addr()+"/debug/pprof/", tc.wantPprof)
		})
	}
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, want)
	}
	return string(b)
}
