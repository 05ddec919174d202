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
	label  string
	col    color.RGBA
	dashed bool
	data   []time.Duration
}

var palette = map[string]color.RGBA{
	"cricket":      {31, 119, 180, 255},
	"cricket-runc": {255, 127, 14, 255},
	"cricket-crun": {148, 103, 189, 255},
	"containerd":   {214, 39, 40, 255},
}

// writePlot draws the empirical distribution (ECDF) of pod start latency
// of every target, sequential (solid) and 10 in parallel (dashed).
func writePlot(path string, rs []*result) error {
	var ss []series
	for _, r := range rs {
		col, ok := palette[r.Name]
		if !ok {
			col = color.RGBA{100, 100, 100, 255}
		}
		if len(r.PodStartSeq) > 0 {
			ss = append(ss, series{label: r.Name + ", sequential", col: col, data: r.PodStartSeq})
		}
		if len(r.PodStartPar) > 0 {
			ss = append(ss, series{label: r.Name + ", 10 in parallel", col: col, dashed: true, data: r.PodStartPar})
		}
	}
	if len(ss) == 0 {
		return fmt.Errorf("no pod start latencies to plot")
	}
	img := drawECDF("pod start latency: runpodsandbox + createcontainer + startcontainer (ecdf)", ss)
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
	plotW, plotH                       = 1280, 600
	marginL, marginR, marginT, marginB = 80, 430, 70, 70
)

func drawECDF(title string, ss []series) *image.RGBA {
	c := canvas{image.NewRGBA(image.Rect(0, 0, plotW, plotH))}
	c.fill(color.RGBA{255, 255, 255, 255})
	black, grey := color.RGBA{0, 0, 0, 255}, color.RGBA{225, 225, 225, 255}

	xmax := 0.0
	for _, s := range ss {
		xmax = math.Max(xmax, ms(quantile(s.data, 0.99)))
	}
	step := niceStep(xmax / 6)
	xmax = math.Ceil(xmax*1.05/step) * step
	x0, x1, y0, y1 := marginL, plotW-marginR, plotH-marginB, marginT
	px := func(v float64) int { return x0 + int(math.Round(math.Min(v, xmax)/xmax*float64(x1-x0))) }
	py := func(f float64) int { return y0 - int(math.Round(f*float64(y0-y1))) }

	// Grid, axes, ticks and their labels.
	for v := 0.0; v <= xmax+step/2; v += step {
		c.line(px(v), y0, px(v), y1, grey, 1, false)
		label := fmt.Sprintf("%g", v)
		c.text(px(v)-textWidth(label, 2)/2, y0+10, label, black, 2)
	}
	for f := 0.0; f <= 1.0001; f += 0.25 {
		c.line(x0, py(f), x1, py(f), grey, 1, false)
		label := fmt.Sprintf("%g", f)
		c.text(x0-10-textWidth(label, 2), py(f)-7, label, black, 2)
	}
	c.line(x0, y0, x1, y0, black, 2, false)
	c.line(x0, y0, x0, y1, black, 2, false)
	c.text(x0+(x1-x0)/2-textWidth("milliseconds", 2)/2, y0+36, "milliseconds", black, 2)
	c.text(x0-60, y1-26, "fraction of pods started", black, 2)
	c.text(plotW/2-textWidth(title, 2)/2, 10, title, black, 2)

	for _, s := range ss {
		d := slices.Clone(s.data)
		slices.Sort(d)
		n := float64(len(d))
		prevX, prevY := px(0), py(0)
		for i, v := range d {
			x, y := px(ms(v)), py(float64(i+1)/n)
			c.line(prevX, prevY, x, prevY, s.col, 2, s.dashed)
			c.line(x, prevY, x, y, s.col, 2, s.dashed)
			prevX, prevY = x, y
		}
		c.line(prevX, prevY, x1, prevY, s.col, 2, s.dashed)
	}

	// Legend, right of the plot.
	lx, ly := x1+25, y1+10
	for i, s := range ss {
		y := ly + 28*i
		c.line(lx, y+7, lx+40, y+7, s.col, 3, s.dashed)
		c.text(lx+50, y, s.label, black, 2)
	}
	return c.RGBA
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

// line draws a straight line of the given width (Bresenham), dashed in
// 8-pixel strokes when asked.
func (c canvas) line(xa, ya, xb, yb int, col color.RGBA, width int, dashed bool) {
	dx, dy := abs(xb-xa), -abs(yb-ya)
	sx, sy := sign(xb-xa), sign(yb-ya)
	e := dx + dy
	for n := 0; ; n++ {
		if !dashed || (n/8)%2 == 0 {
			c.rect(xa-width/2, ya-width/2, xa-width/2+width, ya-width/2+width, col)
		}
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
