package main

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		desc string
		q    float64
		want time.Duration
	}{
		{desc: "median", q: 0.5, want: 50 * time.Millisecond},
		{desc: "p90", q: 0.9, want: 90 * time.Millisecond},
		{desc: "p99", q: 0.99, want: 99 * time.Millisecond},
		{desc: "max", q: 1, want: 100 * time.Millisecond},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := quantile(ds, tc.q); got != tc.want {
				t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v", got)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("quantile sorted its input in place")
	}
}

const scrapeBefore = `# HELP cricket_pod_start_phase_duration_seconds Pod start phases.
# TYPE cricket_pod_start_phase_duration_seconds histogram
cricket_pod_start_phase_duration_seconds_bucket{phase="cni",le="0.01"} 1
cricket_pod_start_phase_duration_seconds_bucket{phase="cni",le="0.1"} 2
cricket_pod_start_phase_duration_seconds_bucket{phase="cni",le="+Inf"} 2
cricket_pod_start_phase_duration_seconds_sum{phase="cni"} 0.06
cricket_pod_start_phase_duration_seconds_count{phase="cni"} 2
cricket_shims 3
`

const scrapeAfter = `cricket_pod_start_phase_duration_seconds_bucket{phase="cni",le="0.01"} 1
cricket_pod_start_phase_duration_seconds_bucket{phase="cni",le="0.1"} 12
cricket_pod_start_phase_duration_seconds_bucket{phase="cni",le="+Inf"} 12
cricket_pod_start_phase_duration_seconds_sum{phase="cni"} 0.56
cricket_pod_start_phase_duration_seconds_count{phase="cni"} 12
cricket_pod_start_phase_duration_seconds_bucket{phase="shim",le="0.01"} 4
cricket_pod_start_phase_duration_seconds_bucket{phase="shim",le="0.1"} 4
cricket_pod_start_phase_duration_seconds_bucket{phase="shim",le="+Inf"} 4
cricket_pod_start_phase_duration_seconds_sum{phase="shim"} 0.02
cricket_pod_start_phase_duration_seconds_count{phase="shim"} 4
`

// The phases of a run are the difference of two scrapes: 10 CNI calls,
// all between 10 and 100 ms, 50 ms on average.
func TestHistogramDelta(t *testing.T) {
	before := parseHistograms([]byte(scrapeBefore), phaseMetric)
	after := parseHistograms([]byte(scrapeAfter), phaseMetric)
	if len(before) != 1 || len(after) != 2 {
		t.Fatalf("parsed %d and %d phases, want 1 and 2", len(before), len(after))
	}
	cni := after["cni"].minus(before["cni"]).stats()
	if cni.Count != 10 || cni.Mean != 50*time.Millisecond {
		t.Errorf("cni: count %d mean %v, want 10 and 50ms", cni.Count, cni.Mean)
	}
	// Rank 5 of 10, all in the (0.01, 0.1] bucket: 0.01 + 0.09*5/10.
	if want := 55 * time.Millisecond; cni.P50 != want {
		t.Errorf("cni p50 = %v, want %v", cni.P50, want)
	}
	shim := after["shim"].minus(before["shim"]).stats()
	if shim.Count != 4 || shim.P99 > 10*time.Millisecond {
		t.Errorf("shim: %+v, want 4 samples at most 10ms", shim)
	}
	if s := (histogram{}).stats(); s.Count != 0 || s.P50 != 0 {
		t.Errorf("empty histogram: %+v", s)
	}
}

func TestParseSmapsRollup(t *testing.T) {
	raw := []byte(`55d0e9a00000-7ffd4a3f1000 ---p 00000000 00:00 0                          [rollup]
Rss:               17844 kB
Pss:                5612 kB
Pss_Dirty:          4400 kB
Pss_Anon:           4410 kB
Pss_File:           1202 kB
Shared_Clean:      12000 kB
`)
	got := parseSmapsRollup(raw)
	if want := (memUsage{RSS: 17844, PSS: 5612, PSSAnon: 4410}); got != want {
		t.Errorf("parseSmapsRollup = %+v, want %+v", got, want)
	}
}
