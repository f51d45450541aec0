package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0-100) of ds by nearest rank,
// or 0 for no values.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Median returns the median of vs (the mean of the middle two for an even
// count), or 0 for no values.
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MedianDuration is Median for durations.
func MedianDuration(ds []time.Duration) time.Duration {
	vs := make([]float64, len(ds))
	for i, d := range ds {
		vs[i] = float64(d)
	}
	return time.Duration(Median(vs))
}

// Ratio formats a/b with two decimals, or "n/a" when b is 0.
func Ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// Ms formats a duration in milliseconds with one decimal.
func Ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// MiB formats bytes in MiB with one decimal.
func MiB(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// Interval is a statistic with its bootstrap 95% interval.
type Interval struct {
	Value, Low, High float64
}

func (i Interval) String() string {
	return fmt.Sprintf("%.2f [%.2f, %.2f]", i.Value, i.Low, i.High)
}

// Bootstrap is the percentile bootstrap 95% interval of stat over n
// observations: reps resamples of n indices drawn with replacement (one
// index picks a whole round, so paired values stay paired), from a fixed
// seed so that a log can be recomputed.
func Bootstrap(n int, stat func(idx []int) float64, reps int, seed uint64) Interval {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	out := Interval{Value: stat(all)}
	if n == 0 || reps <= 0 {
		return out
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vals := make([]float64, reps)
	idx := make([]int, n)
	for r := range vals {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		vals[r] = stat(idx)
	}
	slices.Sort(vals)
	at := func(q float64) float64 { return vals[min(int(q*float64(reps)), reps-1)] }
	out.Low, out.High = at(0.025), at(0.975)
	return out
}

// RatioStats compares paired per-round rates a and b (a[i] and b[i] ran
// in the same round) in the two ways a skeptic would: the ratio of the
// median rates, and the median of the per-round ratios, each with its
// bootstrap interval (rounds resampled).
type RatioStats struct {
	OfMedians, MedianOfRatios Interval
}

// CompareRates is RatioStats of a to b.
func CompareRates(a, b []float64) RatioStats {
	n := min(len(a), len(b))
	pick := func(vs []float64, idx []int) []float64 {
		out := make([]float64, len(idx))
		for i, j := range idx {
			out[i] = vs[j]
		}
		return out
	}
	ofMedians := func(idx []int) float64 {
		mb := Median(pick(b, idx))
		if mb == 0 {
			return 0
		}
		return Median(pick(a, idx)) / mb
	}
	ratios := make([]float64, n)
	for i := range ratios {
		if b[i] != 0 {
			ratios[i] = a[i] / b[i]
		}
	}
	medianOfRatios := func(idx []int) float64 { return Median(pick(ratios, idx)) }
	const reps, seed = 10000, 18
	return RatioStats{
		OfMedians:      Bootstrap(n, ofMedians, reps, seed),
		MedianOfRatios: Bootstrap(n, medianOfRatios, reps, seed),
	}
}

// Stricter is the statistic with the lower value, the headline, and its
// name.
func (s RatioStats) Stricter() (Interval, string) {
	if s.OfMedians.Value <= s.MedianOfRatios.Value {
		return s.OfMedians, "ratio of median rates"
	}
	return s.MedianOfRatios, "median of per-round ratios"
}
