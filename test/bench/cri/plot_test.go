package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The plot is a PNG of the fixed size with every series' colour on it.
func TestWritePlot(t *testing.T) {
	lat := func(base int) []time.Duration {
		var ds []time.Duration
		for i := 0; i < 100; i++ {
			ds = append(ds, time.Duration(base+i)*time.Millisecond)
		}
		return ds
	}
	rs := []*result{
		{Name: "cricket", PodStartSeq: lat(50), PodStartPar: lat(200)},
		{Name: "containerd", PodStartSeq: lat(150)},
	}
	path := filepath.Join(t.TempDir(), "plot.png")
	if err := writePlot(path, rs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() != plotH {
		t.Errorf("plot is %v, want %dx%d", b, plotW, plotH)
	}
	seen := map[string]bool{}
	for y := 0; y < plotH; y++ {
		for x := 0; x < plotW; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			for name, c := range palette {
				if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(b>>8) == c.B {
					seen[name] = true
				}
			}
		}
	}
	for _, name := range []string{"cricket", "containerd"} {
		if !seen[name] {
			t.Errorf("no pixel of %s's colour", name)
		}
	}
	if seen["cricket-runc"] {
		t.Error("a series that was not measured is drawn")
	}
	if err := writePlot(path, []*result{{Name: "cricket"}}); err == nil {
		t.Error("a plot without latencies did not fail")
	}
}

// Every character the plot writes has a glyph.
func TestGlyphsCoverLabels(t *testing.T) {
	for _, s := range []string{"pod start latency: runpodsandbox + createcontainer + startcontainer (ecdf)",
		"fraction of pods started", "milliseconds", "cricket-runc, 10 in parallel", "containerd, sequential", "0.25", "1500"} {
		for _, r := range s {
			if _, ok := glyphs[r]; !ok && r != ' ' {
				t.Errorf("no glyph for %q (in %q)", r, s)
			}
		}
	}
	for r, g := range glyphs {
		for _, row := range g {
			if len(row) != 5 {
				t.Errorf("glyph %q has a row of %d columns", r, len(row))
			}
		}
	}
}
