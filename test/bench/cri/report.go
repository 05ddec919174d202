package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
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

func buildRows(rs []*result) []row {
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
	perPod := func(kib int, d *density) float64 { return float64(kib) / 1024 / float64(d.Pods) }
	return []row{
		oneRow("density: pods", "", rs, d(func(d *density) float64 { return float64(d.Pods) })),
		oneRow("  start them all (10 in parallel)", "s", rs, d(func(d *density) float64 { return d.StartWall.Seconds() })),
		oneRow("  remove them all (10 in parallel)", "s", rs, d(func(d *density) float64 { return d.RemoveWall.Seconds() })),
		oneRow("  daemon RSS, no pods", "MiB", rs, d(func(d *density) float64 { return float64(d.DaemonBefore.RSS) / 1024 })),
		oneRow("  daemon RSS, all pods", "MiB", rs, d(func(d *density) float64 { return float64(d.DaemonAfter.RSS) / 1024 })),
		oneRow("  daemon RSS growth per pod", "MiB", rs, d(func(d *density) float64 { return perPod(d.DaemonAfter.RSS-d.DaemonBefore.RSS, d) })),
		oneRow("  daemon PSS growth per pod", "MiB", rs, d(func(d *density) float64 { return perPod(d.DaemonAfter.PSS-d.DaemonBefore.PSS, d) })),
		oneRow("  shim processes", "", rs, d(func(d *density) float64 { return float64(d.ShimProcs) })),
		oneRow("  shim RSS per pod", "MiB", rs, d(func(d *density) float64 { return perPod(d.Shims.RSS, d) })),
		oneRow("  shim PSS per pod", "MiB", rs, d(func(d *density) float64 { return perPod(d.Shims.PSS, d) })),
		oneRow("  shim anonymous PSS per pod", "MiB", rs, d(func(d *density) float64 { return perPod(d.Shims.PSSAnon, d) })),
		oneRow("  runtime PSS per pod (shims + daemon growth)", "MiB", rs, d(func(d *density) float64 {
			return perPod(d.Shims.PSS+d.DaemonAfter.PSS-d.DaemonBefore.PSS, d)
		})),
	}
}

// printTable prints every figure per target and, when containerd was
// measured, the ratio of each other target to it.
func printTable(w io.Writer, rs []*result) {
	ref := -1
	for i, r := range rs {
		if r.Name == "containerd" {
			ref = i
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := []string{"figure", "unit"}
	for _, r := range rs {
		header = append(header, r.Name)
	}
	if ref >= 0 {
		for i, r := range rs {
			if i != ref {
				header = append(header, r.Name+"/containerd")
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, row := range buildRows(rs) {
		if allNaN(row.vals) {
			continue
		}
		cells := []string{row.label, row.unit}
		for _, v := range row.vals {
			cells = append(cells, format(v, row.unit))
		}
		if ref >= 0 {
			for i, v := range row.vals {
				if i == ref {
					continue
				}
				cells = append(cells, ratio(v, row.vals[ref], row.unit))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	for _, r := range rs {
		if r.Pull != "" {
			fmt.Fprintf(w, "\nimage pull + unpack (test/bench/pull):\n%s", r.Pull)
		}
	}
	fmt.Fprintln(w)
	for _, r := range rs {
		fmt.Fprintf(w, "%s: measured in %s\n", r.Name, r.Took.Round(time.Second))
		for _, e := range r.Errors {
			fmt.Fprintf(w, "%s: ERROR %s\n", r.Name, e)
		}
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
