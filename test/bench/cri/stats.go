package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// quantile is the nearest-rank q-quantile of ds (0 when empty).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// phaseMetric is Cricket's histogram of pod start phases.
const phaseMetric = "cricket_pod_start_phase_duration_seconds"

// histogram is one label set of a Prometheus histogram: cumulative bucket
// counts by upper bound, and its sum and count.
type histogram struct {
	Buckets map[float64]float64
	Sum     float64
	Count   float64
}

// histStats are the figures derived from a histogram.
type histStats struct {
	Count         int
	Mean          time.Duration
	P50, P90, P99 time.Duration // interpolated within buckets
}

func (h histogram) minus(o histogram) histogram {
	out := histogram{Buckets: map[float64]float64{}, Sum: h.Sum - o.Sum, Count: h.Count - o.Count}
	for le, c := range h.Buckets {
		out.Buckets[le] = c - o.Buckets[le]
	}
	return out
}

func (h histogram) plus(o histogram) histogram {
	out := histogram{Buckets: map[float64]float64{}, Sum: h.Sum + o.Sum, Count: h.Count + o.Count}
	for le, c := range h.Buckets {
		out.Buckets[le] += c
	}
	for le, c := range o.Buckets {
		out.Buckets[le] += c
	}
	return out
}

func (h histogram) stats() histStats {
	s := histStats{Count: int(h.Count)}
	if h.Count <= 0 {
		return s
	}
	s.Mean = secs(h.Sum / h.Count)
	s.P50, s.P90, s.P99 = secs(h.quantile(0.5)), secs(h.quantile(0.9)), secs(h.quantile(0.99))
	return s
}

// quantile interpolates linearly inside the bucket that holds rank q*count,
// as Prometheus' histogram_quantile does.
func (h histogram) quantile(q float64) float64 {
	les := make([]float64, 0, len(h.Buckets))
	for le := range h.Buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	rank := q * h.Count
	prevLE, prevCount := 0.0, 0.0
	for _, le := range les {
		c := h.Buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevLE
			}
			if c == prevCount {
				return le
			}
			return prevLE + (le-prevLE)*(rank-prevCount)/(c-prevCount)
		}
		prevLE, prevCount = le, c
	}
	return prevLE
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// scrapeHistograms reads metric from a Prometheus text endpoint, by the
// value of its one non-le label ("phase"). An empty url gives nothing.
func scrapeHistograms(ctx context.Context, url, metric string) (map[string]histogram, error) {
	if url == "" {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d: %v", url, resp.StatusCode, err)
	}
	return parseHistograms(body, metric), nil
}

// parseHistograms parses the _bucket, _sum and _count samples of metric.
func parseHistograms(body []byte, metric string) map[string]histogram {
	out := map[string]histogram{}
	get := func(key string) histogram {
		h, ok := out[key]
		if !ok {
			h = histogram{Buckets: map[float64]float64{}}
		}
		return h
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric+"_")
		if !ok {
			continue
		}
		kind, labels, value, ok := splitSample(rest)
		if !ok {
			continue
		}
		key, le := "", ""
		for _, l := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(l, "=")
			v = strings.Trim(v, `"`)
			if k == "le" {
				le = v
			} else if k != "" {
				key = v
			}
		}
		h := get(key)
		switch kind {
		case "bucket":
			bound, err := strconv.ParseFloat(le, 64)
			if err != nil {
				continue
			}
			h.Buckets[bound] = value
		case "sum":
			h.Sum = value
		case "count":
			h.Count = value
		}
		out[key] = h
	}
	return out
}

// splitSample splits `bucket{phase="cni",le="0.1"} 3` into its parts.
func splitSample(s string) (kind, labels string, value float64, ok bool) {
	open := strings.IndexByte(s, '{')
	closing := strings.LastIndexByte(s, '}')
	if open < 0 || closing < open {
		return "", "", 0, false
	}
	kind, labels = s[:open], s[open+1:closing]
	fields := strings.Fields(s[closing+1:])
	if len(fields) == 0 {
		return "", "", 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return kind, labels, v, err == nil
}

// memUsage is the resident and proportional memory of one or more
// processes, in KiB.
type memUsage struct {
	RSS, PSS, PSSAnon int
}

func (m memUsage) add(o memUsage) memUsage {
	return memUsage{RSS: m.RSS + o.RSS, PSS: m.PSS + o.PSS, PSSAnon: m.PSSAnon + o.PSSAnon}
}

// readMem reads /proc/PID/smaps_rollup.
func readMem(pid int) (memUsage, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memUsage{}, err
	}
	return parseSmapsRollup(raw), nil
}

func parseSmapsRollup(raw []byte) memUsage {
	var m memUsage
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			m.RSS = v
		case "Pss:":
			m.PSS = v
		case "Pss_Anon:":
			m.PSSAnon = v
		}
	}
	return m
}

// shimMem sums the memory of one daemon's shims: processes in this
// process's pid namespace carrying the daemon's marker in their
// environment, other than the daemon and runtime CLIs caught mid-call. Container processes get their
// environment from the spec and never carry the marker.
func shimMem(daemon int, marker string) (memUsage, int, error) {
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return memUsage{}, 0, err
	}
	var total memUsage
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == daemon || pid == os.Getpid() {
			continue
		}
		p := filepath.Join("/proc", e.Name())
		if ns, _ := os.Readlink(filepath.Join(p, "ns", "pid")); ns != self {
			continue
		}
		env, _ := os.ReadFile(filepath.Join(p, "environ"))
		if !slices.Contains(strings.Split(string(env), "\x00"), marker) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(p, "comm"))
		if c := strings.TrimSpace(string(comm)); c == "runc" || c == "crun" || c == "runc:[2:INIT]" {
			continue
		}
		m, err := readMem(pid)
		if err != nil {
			continue // exited meanwhile
		}
		total = total.add(m)
		n++
	}
	return total, n, nil
}
