package soak

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/stdrealtime/realtime/internal/bench/load"
)

// WritePNG draws the server's samples over time (RSS, goroutines, healthy
// deliveries per second and their p99 latency) as four stacked line
// charts into a PNG file at path.
func WritePNG(path string, res load.SoakResult) error {
	panels := []struct {
		title, unit string
		value       func(load.SoakSample) float64
	}{
		{"server RSS", "MiB", func(s load.SoakSample) float64 { return s.RSSKiB / 1024 }},
		{"server goroutines", "goroutines", func(s load.SoakSample) float64 { return float64(s.Goroutines) }},
		{"deliveries to healthy clients", "per second", func(s load.SoakSample) float64 { return s.DeliveriesPerSec }},
		{"p99 publish-to-delivery latency, healthy clients", "ms", func(s load.SoakSample) float64 { return s.P99us / 1000 }},
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		pl := plot.New()
		pl.Title.Text = p.title
		pl.X.Label.Text = "seconds since warm-up began"
		pl.Y.Label.Text = p.unit
		pl.X.Min, pl.Y.Min = 0, 0
		pts := make(plotter.XYs, len(res.Samples))
		for j, s := range res.Samples {
			pts[j].X, pts[j].Y = s.Seconds, p.value(s)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("soak: plot %s: %w", p.title, err)
		}
		line.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
		line.Width = vg.Points(1.5)
		pl.Add(plotter.NewGrid(), line)
		// A dashed line marks the end of the warm-up.
		top := 0.0
		for _, pt := range pts {
			top = max(top, pt.Y)
		}
		if w := res.Config.Warmup.Seconds(); w > 0 && top > 0 {
			mark, err := plotter.NewLine(plotter.XYs{{X: w, Y: 0}, {X: w, Y: top}})
			if err != nil {
				return fmt.Errorf("soak: plot %s: %w", p.title, err)
			}
			mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			mark.Color = color.Gray{Y: 0x80}
			pl.Add(mark)
		}
		plots[i] = []*plot.Plot{pl}
	}
	img := vgimg.New(10*vg.Inch, 12*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("soak: plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("soak: plot: %w", err)
	}
	return f.Close()
}
