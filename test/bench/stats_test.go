package bench

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(5, 1, 3, 2, 4), 50, 3 * time.Millisecond},
		{ms(5, 1, 3, 2, 4), 0, 1 * time.Millisecond},
		{ms(5, 1, 3, 2, 4), 100, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Percentile(tt.in, tt.p), "%v p%v", tt.in, tt.p)
	}
}

func TestMedianAndRatio(t *testing.T) {
	assert.Equal(t, 0.0, Median(nil))
	assert.Equal(t, 2.0, Median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	assert.Equal(t, 1500*time.Microsecond, MedianDuration([]time.Duration{time.Millisecond, 2 * time.Millisecond}))
	assert.Equal(t, "0.50", Ratio(1, 2))
	assert.Equal(t, "n/a", Ratio(1, 0))
	assert.Equal(t, "1.5 ms", Ms(1500*time.Microsecond))
	assert.Equal(t, "24.0 MiB", MiB(24<<20))
}

func TestBootstrap(t *testing.T) {
	median := func(vs []float64) func([]int) float64 {
		return func(idx []int) float64 {
			var s []float64
			for _, i := range idx {
				s = append(s, vs[i])
			}
			return Median(s)
		}
	}
	tests := []struct {
		name      string
		vs        []float64
		value     float64
		low, high float64 // bounds the interval must lie within
	}{
		{name: "constant", vs: []float64{3, 3, 3, 3}, value: 3, low: 3, high: 3},
		{name: "one value", vs: []float64{7}, value: 7, low: 7, high: 7},
		{name: "spread", vs: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, value: 6, low: 2, high: 10},
		{name: "none", vs: nil, value: 0, low: 0, high: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := Bootstrap(len(tt.vs), median(tt.vs), 2000, 1)
			assert.Equal(t, tt.value, iv.Value)
			assert.LessOrEqual(t, iv.Low, iv.Value)
			assert.GreaterOrEqual(t, iv.High, iv.Value)
			assert.GreaterOrEqual(t, iv.Low, tt.low)
			assert.LessOrEqual(t, iv.High, tt.high)
		})
	}
	spread := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	assert.Equal(t, Bootstrap(11, median(spread), 500, 42), Bootstrap(11, median(spread), 500, 42), "a fixed seed gives the same interval")
	wide := Bootstrap(11, median(spread), 2000, 1)
	assert.Less(t, wide.Low, wide.Value, "a spread sample has an interval")
	assert.Greater(t, wide.High, wide.Value)
}

func TestCompareRates(t *testing.T) {
	// Rounds in which a is always half of b, however the bed drifts: both
	// statistics are 0.5, with no doubt.
	b := []float64{100, 300, 200, 400, 250}
	a := []float64{50, 150, 100, 200, 125}
	s := CompareRates(a, b)
	assert.Equal(t, Interval{0.5, 0.5, 0.5}, s.OfMedians)
	assert.Equal(t, Interval{0.5, 0.5, 0.5}, s.MedianOfRatios)

	// The published run's shape: per-round ratios above 0.8 half the time,
	// the median rates further apart. The stricter one is the headline.
	a = []float64{228, 226, 162, 225, 164, 168, 118, 166, 218, 142, 279}
	b = []float64{225, 135, 270, 260, 182, 248, 187, 155, 321, 264, 137}
	s = CompareRates(a, b)
	assert.InDelta(t, 168.0/225.0, s.OfMedians.Value, 1e-9)
	assert.InDelta(t, 0.86, s.MedianOfRatios.Value, 0.01)
	head, name := s.Stricter()
	assert.Equal(t, s.OfMedians, head)
	assert.Equal(t, "ratio of median rates", name)
	for _, iv := range []Interval{s.OfMedians, s.MedianOfRatios} {
		assert.Less(t, iv.Low, iv.Value)
		assert.Greater(t, iv.High, iv.Value)
	}
	assert.Equal(t, "0.75 [0.50, 1.00]", Interval{0.75, 0.5, 1}.String())
}

func TestDrawPanels(t *testing.T) {
	red := color.RGBA{200, 0, 0, 255}
	img := DrawPanels(Panel{XMax: 10, YMax: 10, XTicks: []float64{0, 5, 10}, YTicks: []float64{0, 2.5},
		Lines: []Series{{Color: red, X: []float64{0, 10}, Y: []float64{0, 10}}}}, Panel{XMax: 1, YMax: 1})
	assert.Equal(t, image.Rect(0, 0, 2*panelW, panelH), img.Bounds())
	assert.Equal(t, red, img.RGBAAt(margin, panelH-margin), "the line starts at the origin")
	path := filepath.Join(t.TempDir(), "p.png")
	require.NoError(t, WritePNG(path, img))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	back, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, img.Bounds(), back.Bounds())
}
