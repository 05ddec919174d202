package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// printBench prints the figures of every run: per target the median over
// the runs with the lowest and highest run beside it, and per other target
// the median of its per-run ratio to containerd with that ratio's range.
func printBench(w io.Writer, b *bench) {
	if len(b.Runs) == 0 {
		fmt.Fprintln(w, "no run")
		return
	}
	names := []string{}
	for _, r := range b.Runs[0] {
		names = append(names, r.Name)
	}
	ref := slices.Index(names, "containerd")
	printHeader(w, b)
	perRun := make([][]row, len(b.Runs))
	for i, rs := range b.Runs {
		perRun[i] = buildRows(rs, b.Images)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := append([]string{"figure", "unit"}, names...)
	if ref >= 0 {
		for i, n := range names {
			if i != ref {
				header = append(header, n+"/containerd")
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for k, first := range perRun[0] {
		cells := []string{first.label, first.unit}
		empty := true
		for t := range names {
			vals := column(perRun, k, t)
			if len(vals) > 0 {
				empty = false
			}
			cells = append(cells, spread(vals, first.unit))
		}
		if empty {
			continue
		}
		if ref >= 0 {
			for t := range names {
				if t == ref {
					continue
				}
				ratios := ratiosOf(perRun, k, t, ref)
				cells = append(cells, spread(ratios, "ratio"))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, rs := range b.Runs {
		for _, r := range rs {
			if r.Pull != "" {
				fmt.Fprintf(w, "\nimage pull + unpack (test/bench/pull):\n%s", r.Pull)
			}
		}
	}
	for _, e := range b.Errors {
		fmt.Fprintf(w, "ERROR %s\n", e)
	}
	for i, rs := range b.Runs {
		for _, r := range rs {
			for _, e := range r.Errors {
				fmt.Fprintf(w, "run %d: %s: ERROR %s\n", i+1, r.Name, e)
			}
		}
	}
}

func printHeader(w io.Writer, b *bench) {
	fmt.Fprintf(w, "\nbegan %s, %d runs, took %s\n", b.Began.Format("2006-01-02 15:04 UTC"), len(b.Runs), b.Took.Round(time.Second))
	for _, v := range b.Versions {
		fmt.Fprintf(w, "  %s\n", v)
	}
	fmt.Fprintf(w, "load average (1/5/15 min) before the first run and after each: %s\n", strings.Join(b.Load, " | "))
	if len(b.Images) > 0 {
		drop := "dropped before every pull"
		if !b.CachesDropped {
			drop = "NOT dropped (the host refused /proc/sys/vm/drop_caches)"
		}
		fmt.Fprintf(w, "CRI pulls: image removed, sync, page cache %s; one pull per image, store and run\n", drop)
	}
	fmt.Fprintln(w, "cells: median over runs (min-max)")
}

// ratiosOf is, per run, row k of target t over that of target ref.
func ratiosOf(perRun [][]row, k, t, ref int) []float64 {
	var ratios []float64
	for _, rows := range perRun {
		if k >= len(rows) || t >= len(rows[k].vals) || ref >= len(rows[k].vals) || rows[k].unit == "" {
			continue
		}
		v, c := rows[k].vals[t], rows[k].vals[ref]
		if !math.IsNaN(v) && !math.IsNaN(c) && c != 0 {
			ratios = append(ratios, v/c)
		}
	}
	return ratios
}

// column is the values of row k of target t over the runs (NaNs left out).
func column(perRun [][]row, k, t int) []float64 {
	var out []float64
	for _, rows := range perRun {
		if k < len(rows) && t < len(rows[k].vals) && !math.IsNaN(rows[k].vals[t]) {
			out = append(out, rows[k].vals[t])
		}
	}
	return out
}

// spread formats the median of vs and their range.
func spread(vs []float64, unit string) string {
	if len(vs) == 0 {
		return "-"
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	f := func(v float64) string {
		if unit == "ratio" {
			return fmt.Sprintf("%.2f", v)
		}
		return format(v, unit)
	}
	if len(s) == 1 || unit == "" && s[0] == s[len(s)-1] {
		return f(med)
	}
	return fmt.Sprintf("%s (%s-%s)", f(med), f(s[0]), f(s[len(s)-1]))
}

// mergeRuns joins every run's samples per target (for the plot).
func mergeRuns(runs [][]*result) []*result {
	var out []*result
	for _, rs := range runs {
		for i, r := range rs {
			if i >= len(out) {
				out = append(out, &result{Name: r.Name})
			}
			out[i].PodStartSeq = append(out[i].PodStartSeq, r.PodStartSeq...)
			out[i].PodStartPar = append(out[i].PodStartPar, r.PodStartPar...)
		}
	}
	return out
}
