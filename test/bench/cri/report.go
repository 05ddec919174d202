package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// row is one line of the table: a figure per target.
type row struct {
	label string
	unit  string // "ms", "s", "MiB", "KiB", ""
	vals  []float64
}

var nan = math.NaN()

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencyRows gives p50, p90 and p99 of ds per result.
func latencyRows(label string, rs []*result, get func(*result) []time.Duration) []row {
	var out []row
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}} {
		r := row{label: fmt.Sprintf("%s %s", label, q.name), unit: "ms"}
		for _, res := range rs {
			ds := get(res)
			if len(ds) == 0 {
				r.vals = append(r.vals, nan)
				continue
			}
			r.vals = append(r.vals, ms(quantile(ds, q.q)))
		}
		if q.name == "p50" {
			r.label += fmt.Sprintf(" (n=%d)", maxLen(rs, get))
		}
		out = append(out, r)
	}
	return out
}

func maxLen(rs []*result, get func(*result) []time.Duration) int {
	n := 0
	for _, r := range rs {
		n = max(n, len(get(r)))
	}
	return n
}

func oneRow(label, unit string, rs []*result, get func(*result) (float64, bool)) row {
	r := row{label: label, unit: unit}
	for _, res := range rs {
		v, ok := get(res)
		if !ok {
			v = nan
		}
		r.vals = append(r.vals, v)
	}
	return r
}

func buildRows(rs []*result, images []pullImage) []row {
	var rows []row
	rows = append(rows, latencyRows("pod start, sequential", rs, func(r *result) []time.Duration { return r.PodStartSeq })...)
	for _, c := range []struct {
		name string
		get  func(*result) []time.Duration
	}{
		{"  RunPodSandbox", func(r *result) []time.Duration { return r.RunPodSandbox }},
		{"  CreateContainer", func(r *result) []time.Duration { return r.CreateContainer }},
		{"  StartContainer", func(r *result) []time.Duration { return r.StartContainer }},
		{"pod stop+remove", func(r *result) []time.Duration { return r.PodTeardown }},
		{"  StopPodSandbox", func(r *result) []time.Duration { return r.StopPod }},
		{"  RemovePodSandbox", func(r *result) []time.Duration { return r.RemovePod }},
	} {
		rows = append(rows, oneRow(c.name+" p50", "ms", rs, func(r *result) (float64, bool) {
			ds := c.get(r)
			return ms(quantile(ds, 0.5)), len(ds) > 0
		}))
	}
	for _, phase := range []string{"namespaces", "cni", "shim", "executor"} {
		for _, q := range []string{"p50", "p90", "mean"} {
			rows = append(rows, oneRow(fmt.Sprintf("  phase %s %s (metrics)", phase, q), "ms", rs, func(r *result) (float64, bool) {
				s, ok := r.Phases[phase]
				if !ok || s.Count == 0 {
					return 0, false
				}
				return ms(map[string]time.Duration{"p50": s.P50, "p90": s.P90, "mean": s.Mean}[q]), true
			}))
		}
	}
	rows = append(rows, latencyRows("pod start, 10 in parallel", rs, func(r *result) []time.Duration { return r.PodStartPar })...)
	rows = append(rows, latencyRows("pod start, hostNetwork", rs, func(r *result) []time.Duration { return r.PodStartHostNet })...)
	rows = append(rows, latencyRows("container create+start", rs, func(r *result) []time.Duration { return r.CtrCreateStart })...)
	rows = append(rows, latencyRows("container stop (SIGTERM)", rs, func(r *result) []time.Duration { return r.CtrStop })...)
	rows = append(rows, latencyRows("container remove", rs, func(r *result) []time.Duration { return r.CtrRemove })...)
	rows = append(rows, latencyRows("ExecSync true", rs, func(r *result) []time.Duration { return r.Exec })...)
	rows = append(rows, densityRows(rs)...)
	for _, img := range images {
		label := fmt.Sprintf("pull %s (%.0f MB, %.0f MB gzip)", img.Label, float64(img.Unpacked)/1e6, float64(img.Compressed)/1e6)
		rows = append(rows, oneRow(label, "MB/s", rs, func(r *result) (float64, bool) {
			d, ok := r.Pulls[img.Label]
			return float64(img.Unpacked) / 1e6 / d.Seconds(), ok && d > 0
		}))
	}
	for _, op := range critestOps {
		rows = append(rows, oneRow("critest "+op+" p50", "ms", rs, func(r *result) (float64, bool) {
			s, ok := r.Critest[op]
			return ms(s.P50), ok && s.Samples > 0
		}))
	}
	return rows
}

func densityRows(rs []*result) []row {
	d := func(get func(*density) float64) func(*result) (float64, bool) {
		return func(r *result) (float64, bool) {
			if r.Density == nil || r.Density.Pods == 0 {
				return 0, false
			}
			return get(r.Density), true
		}
	}
	mib := func(kib int) float64 { return float64(kib) / 1024 }
	return []row{
		oneRow("density: pods (pid mode CONTAINER)", "", rs, d(func(d *density) float64 { return float64(d.Pods) })),
		oneRow("  start them all (10 in parallel)", "s", rs, d(func(d *density) float64 { return d.StartWall.Seconds() })),
		oneRow("  remove them all (10 in parallel)", "s", rs, d(func(d *density) float64 { return d.RemoveWall.Seconds() })),
		oneRow("  daemon RSS, no pods", "MiB", rs, d(func(d *density) float64 { return mib(d.DaemonBefore.RSS) })),
		oneRow("  per pod at 10 s: PSS (daemon growth + shims + pause)", "MiB", rs, d(func(d *density) float64 { return mib(d.perPod(d.Settled).PSS) })),
		oneRow("  per pod at 10 s: RSS", "MiB", rs, d(func(d *density) float64 { return mib(d.perPod(d.Settled).RSS) })),
		oneRow("  per pod after polling: PSS (daemon growth + shims + pause)", "MiB", rs, d(func(d *density) float64 { return mib(d.perPod(d.Polled).PSS) })),
		oneRow("  per pod after polling: RSS", "MiB", rs, d(func(d *density) float64 { return mib(d.perPod(d.Polled).RSS) })),
		oneRow("  per pod after polling: anonymous PSS", "MiB", rs, d(func(d *density) float64 { return mib(d.perPod(d.Polled).PSSAnon) })),
		oneRow("    shim PSS per pod", "MiB", rs, d(func(d *density) float64 { return mib(d.Polled.Shims.PSS) / float64(d.Pods) })),
		oneRow("    pause PSS per pod", "MiB", rs, d(func(d *density) float64 { return mib(d.Polled.Pause.PSS) / float64(d.Pods) })),
		oneRow("    daemon PSS growth per pod", "MiB", rs, d(func(d *density) float64 {
			return mib(d.Polled.Daemon.PSS-d.DaemonBefore.PSS) / float64(d.Pods)
		})),
		oneRow("  relist p50 (List + status of each)", "ms", rs, func(r *result) (float64, bool) {
			if r.Density == nil || len(r.Density.Relist) == 0 {
				return 0, false
			}
			return ms(quantile(r.Density.Relist, 0.5)), true
		}),
	}
}

func allNaN(vs []float64) bool {
	for _, v := range vs {
		if !math.IsNaN(v) {
			return false
		}
	}
	return true
}

func format(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case unit == "" || v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratio(v, ref float64, unit string) string {
	if unit == "" || math.IsNaN(v) || math.IsNaN(ref) || ref == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v/ref)
}

// printMachine prints what the figures were measured on.
func printMachine(w io.Writer) {
	kernel, _ := exec.Command("uname", "-r").Output()
	fmt.Fprintf(w, "machine: %d CPUs, %s RAM, kernel %s, %s, %s\n", runtime.NumCPU(), memTotal(), strings.TrimSpace(string(kernel)), osRelease(), runtime.Version())
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(w, "load average at the end: %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	fmt.Fprintf(w, "date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

func memTotal() string {
	raw, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			var kib float64
			fmt.Sscan(f[1], &kib)
			return fmt.Sprintf("%.0f GiB", kib/1024/1024)
		}
	}
	return "?"
}

func osRelease() string {
	raw, _ := os.ReadFile("/etc/os-release")
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}
