package bench

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"
)

// Series is one line of a plot.
type Series struct {
	Color  color.RGBA
	Dashed bool
	X, Y   []float64
}

// Panel is one chart: lines over axes from 0 to XMax and 0 to YMax, with
// ticks labelled by their values (there is no font in the standard
// library; digits are drawn from a 3×5 bitmap, and the caption in
// docs/benchmarks.md names the axes and colours).
type Panel struct {
	XMax, YMax     float64
	XTicks, YTicks []float64
	Lines          []Series
}

const (
	panelW, panelH = 480, 360
	margin         = 40
)

// DrawPanels draws panels side by side.
func DrawPanels(panels ...Panel) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, panelW*len(panels), panelH))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	for i, p := range panels {
		p.draw(img, i*panelW)
	}
	return img
}

// WritePNG writes img to path.
func WritePNG(path string, img image.Image) error {
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

func (p Panel) draw(img *image.RGBA, left int) {
	black := color.RGBA{0, 0, 0, 255}
	grey := color.RGBA{200, 200, 200, 255}
	x0, y0 := left+margin, panelH-margin
	x1, y1 := left+panelW-margin/2, margin/2
	px := func(x float64) int { return x0 + int(x/p.XMax*float64(x1-x0)) }
	py := func(y float64) int { return y0 - int(y/p.YMax*float64(y0-y1)) }
	for _, t := range p.YTicks {
		line(img, x0, py(t), x1, py(t), grey, false)
		text(img, left+2, py(t)-2, label(t), black)
	}
	for _, t := range p.XTicks {
		line(img, px(t), y0, px(t), y0+4, black, false)
		text(img, px(t)-6, y0+8, label(t), black)
	}
	line(img, x0, y0, x1, y0, black, false)
	line(img, x0, y0, x0, y1, black, false)
	for _, s := range p.Lines {
		for i := 1; i < len(s.X); i++ {
			line(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), s.Color, s.Dashed)
		}
		for i := range s.X {
			for dx := -2; dx <= 2; dx++ {
				for dy := -2; dy <= 2; dy++ {
					img.Set(px(s.X[i])+dx, py(s.Y[i])+dy, s.Color)
				}
			}
		}
	}
}

// line draws from (ax, ay) to (bx, by), two pixels wide.
func line(img *image.RGBA, ax, ay, bx, by int, c color.RGBA, dashed bool) {
	n := max(abs(bx-ax), abs(by-ay), 1)
	for i := 0; i <= n; i++ {
		if dashed && (i/6)%2 == 1 {
			continue
		}
		x := ax + int(math.Round(float64(i*(bx-ax))/float64(n)))
		y := ay + int(math.Round(float64(i*(by-ay))/float64(n)))
		img.Set(x, y, c)
		img.Set(x+1, y, c)
		img.Set(x, y+1, c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func label(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// digits are 3×5 bitmaps, one row per 3 bits, of 0-9 and '.'.
var digits = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, '.': {0, 0, 0, 0, 2},
}

// text draws s (digits and '.') at (x, y), each dot 2×2 pixels.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		rows, ok := digits[r]
		if !ok {
			x += 8
			continue
		}
		for row, bits := range rows {
			for col := range 3 {
				if bits&(4>>col) == 0 {
					continue
				}
				for d := range 4 {
					img.Set(x+col*2+d%2, y+row*2+d/2, c)
				}
			}
		}
		x += 8
	}
}
