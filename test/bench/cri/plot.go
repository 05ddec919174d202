package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// series is one curve of the plot.
type series struct {
	label string
	col   color.RGBA
	data  []time.Duration
}

// panel is one chart: a title and its curves.
type panel struct {
	title string
	ss    []series
}

var palette = map[string]color.RGBA{
	"cricket":      {31, 119, 180, 255},
	"cricket-runc": {255, 127, 14, 255},
	"cricket-crun": {148, 103, 189, 255},
	"containerd":   {214, 39, 40, 255},
}

func colorOf(name string) color.RGBA {
	if c, ok := palette[name]; ok {
		return c
	}
	return color.RGBA{100, 100, 100, 255}
}

// writePlot draws the empirical distribution (ECDF) of pod start latency
// of every target: sequential pod starts on the left, 10 in parallel on
// the right, each with its own time axis.
func writePlot(path string, rs []*result) error {
	seq, par := panel{title: "sequential"}, panel{title: "10 in parallel"}
	var legend []series
	for _, r := range rs {
		if len(r.PodStartSeq) == 0 && len(r.PodStartPar) == 0 {
			continue
		}
		col := colorOf(r.Name)
		legend = append(legend, series{label: r.Name, col: col})
		if len(r.PodStartSeq) > 0 {
			seq.ss = append(seq.ss, series{label: r.Name, col: col, data: r.PodStartSeq})
		}
		if len(r.PodStartPar) > 0 {
			par.ss = append(par.ss, series{label: r.Name, col: col, data: r.PodStartPar})
		}
	}
	if len(legend) == 0 {
		return fmt.Errorf("no pod start latencies to plot")
	}
	img := drawECDF("pod start latency, runpodsandbox + createcontainer + startcontainer: ecdf", []panel{seq, par}, legend)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// canvas is an RGBA image with the plot's drawing primitives.
type canvas struct {
	*image.RGBA
}

const (
	plotW, plotH = 1280, 600
	marginL      = 80  // left of each panel: y tick labels
	legendW      = 250 // right of the panels
	marginT      = 90
	marginB      = 70
)

func drawECDF(title string, panels []panel, legend []series) *image.RGBA {
	c := canvas{image.NewRGBA(image.Rect(0, 0, plotW, plotH))}
	c.fill(color.RGBA{255, 255, 255, 255})
	ink := color.RGBA{0, 0, 0, 255}
	c.text(plotW/2-textWidth(title, 2)/2, 10, title, ink, 2)
	width := (plotW - legendW) / len(panels)
	for i, p := range panels {
		c.drawPanel(i*width+marginL, i*width+width-30, p)
	}
	lx, ly := plotW-legendW+20, marginT+10
	for i, s := range legend {
		y := ly + 28*i
		c.line(lx, y+7, lx+40, y+7, s.col, 3)
		c.text(lx+50, y, s.label, ink, 2)
	}
	return c.RGBA
}

// drawPanel draws one ECDF chart between x0 and x1.
func (c canvas) drawPanel(x0, x1 int, p panel) {
	ink, grey := color.RGBA{0, 0, 0, 255}, color.RGBA{225, 225, 225, 255}
	y0, y1 := plotH-marginB, marginT
	xmax := 0.0
	for _, s := range p.ss {
		xmax = math.Max(xmax, ms(quantile(s.data, 0.99)))
	}
	if xmax <= 0 {
		xmax = 1
	}
	step := niceStep(xmax / 5)
	xmax = math.Ceil(xmax*1.05/step) * step
	px := func(v float64) int { return x0 + int(math.Round(math.Min(v, xmax)/xmax*float64(x1-x0))) }
	py := func(f float64) int { return y0 - int(math.Round(f*float64(y0-y1))) }
	for v := 0.0; v <= xmax+step/2; v += step {
		c.line(px(v), y0, px(v), y1, grey, 1)
		label := fmt.Sprintf("%g", v)
		c.text(px(v)-textWidth(label, 2)/2, y0+10, label, ink, 2)
	}
	for f := 0.0; f <= 1.0001; f += 0.25 {
		c.line(x0, py(f), x1, py(f), grey, 1)
		label := fmt.Sprintf("%g", f)
		c.text(x0-10-textWidth(label, 2), py(f)-7, label, ink, 2)
	}
	c.line(x0, y0, x1, y0, ink, 2)
	c.line(x0, y0, x0, y1, ink, 2)
	c.text(x0+(x1-x0)/2-textWidth("milliseconds", 2)/2, y0+36, "milliseconds", ink, 2)
	c.text(x0-60, y1-26, "fraction of pods started, "+p.title, ink, 2)
	for _, s := range p.ss {
		d := slices.Clone(s.data)
		slices.Sort(d)
		n := float64(len(d))
		prevX, prevY := px(0), py(0)
		for i, v := range d {
			x, y := px(ms(v)), py(float64(i+1)/n)
			c.line(prevX, prevY, x, prevY, s.col, 2)
			c.line(x, prevY, x, y, s.col, 2)
			prevX, prevY = x, y
		}
		c.line(prevX, prevY, x1, prevY, s.col, 2)
	}
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func (c canvas) fill(col color.RGBA) {
	c.rect(0, 0, c.Bounds().Dx(), c.Bounds().Dy(), col)
}

func (c canvas) rect(x0, y0, x1, y1 int, col color.RGBA) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c.SetRGBA(x, y, col)
		}
	}
}

// line draws a straight line of the given width (Bresenham).
func (c canvas) line(xa, ya, xb, yb int, col color.RGBA, width int) {
	dx, dy := abs(xb-xa), -abs(yb-ya)
	sx, sy := sign(xb-xa), sign(yb-ya)
	e := dx + dy
	for {
		c.rect(xa-width/2, ya-width/2, xa-width/2+width, ya-width/2+width, col)
		if xa == xb && ya == yb {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			xa += sx
		} else {
			e += dx
			ya += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// text draws s in the 5x7 bitmap font at (x, y), its top left corner,
// each font pixel scale screen pixels wide.
func (c canvas) text(x, y int, s string, col color.RGBA, scale int) {
	for _, r := range strings.ToLower(s) {
		if g, ok := glyphs[r]; ok {
			for row, bits := range g {
				for colIdx, b := range bits {
					if b == '#' {
						c.rect(x+colIdx*scale, y+row*scale, x+(colIdx+1)*scale, y+(row+1)*scale, col)
					}
				}
			}
		}
		x += 6 * scale
	}
}

func textWidth(s string, scale int) int { return len(s) * 6 * scale }
