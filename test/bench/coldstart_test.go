package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// coldStart is one start of one program.
type coldStart struct {
	ready, firstEvent time.Duration // from exec
	rss, peak         int64         // after the first event and a second idle
}

// BenchmarkColdStart starts the function (as shipped: static, stripped) and
// the floor program (client-go and a CloudEvents receiver, creating per
// event the same Job the function creates) in turns, and measures each start: exec → /health/readiness
// answers 200, exec → the first event answered, and the resident memory
// once idle.
func BenchmarkColdStart(b *testing.B) {
	starts := envInt("BENCH_STARTS", 7)
	w := newWorld(b, "alpine:3.20")
	fnBin, floorBin := binaries(b)
	client := httpClient(1)
	floorJob := w.jobFile(b, client)
	progs := []struct {
		name, bin string
		env       map[string]string
		metrics   bool
	}{
		{"function", fnBin, w.functionEnv("bench-cold"), true},
		{"floor", floorBin, map[string]string{"KUBECONFIG": w.kubeconfig, "JOB_NAMESPACE": w.ns,
			"KEPTN_RESOURCE_URL": w.keptnURL, "KEPTN_API_URL": w.keptnURL, "KEPTN_API_TOKEN": w.keptn.Token(), "FLOOR_JOB": floorJob}, false},
	}
	for b.Loop() {
		results := map[string][]coldStart{}
		for i := range starts {
			for j := range progs {
				p := progs[(i+j)%len(progs)]
				results[p.name] = append(results[p.name], measureStart(b, w, client, p.bin, p.env, p.metrics))
			}
		}
		med := map[string]coldStart{}
		for _, p := range progs {
			var ready, first []time.Duration
			var rss, peak []float64
			for _, r := range results[p.name] {
				ready, first = append(ready, r.ready), append(first, r.firstEvent)
				rss, peak = append(rss, float64(r.rss)), append(peak, float64(r.peak))
			}
			med[p.name] = coldStart{MedianDuration(ready), MedianDuration(first), int64(Median(rss)), int64(Median(peak))}
			st, err := os.Stat(p.bin)
			must(b, err)
			summary("cold start %-8s ready %s, first event answered %s, idle RSS %s (peak %s), binary %s (medians of %d starts)",
				p.name, Ms(med[p.name].ready), Ms(med[p.name].firstEvent), MiB(med[p.name].rss), MiB(med[p.name].peak), MiB(st.Size()), starts)
		}
		fn, fl := med["function"], med["floor"]
		fnSize, _ := os.Stat(fnBin)
		flSize, _ := os.Stat(floorBin)
		for _, g := range []struct {
			what      string
			fn, floor float64
			format    func(float64) string
		}{
			{"ready", float64(fn.ready), float64(fl.ready), func(v float64) string { return Ms(time.Duration(v)) }},
			{"first event answered", float64(fn.firstEvent), float64(fl.firstEvent), func(v float64) string { return Ms(time.Duration(v)) }},
			{"idle RSS", float64(fn.rss), float64(fl.rss), func(v float64) string { return MiB(int64(v)) }},
		} {
			goal("cold start: "+g.what+" ≤ 1.5 × the floor's", "≤ 1.5 × "+g.format(g.floor), g.format(g.fn)+" ("+Ratio(g.fn, g.floor)+" ×)", g.fn <= 1.5*g.floor)
		}
		summary("cold start ratio to floor: ready %s, first event %s, idle RSS %s, peak RSS %s, binary %s (goal: each of the first three within 1.50; the floor does the same I/O on its first event: one config GET, one Job create, one POST)",
			Ratio(float64(fn.ready), float64(fl.ready)), Ratio(float64(fn.firstEvent), float64(fl.firstEvent)),
			Ratio(float64(fn.rss), float64(fl.rss)), Ratio(float64(fn.peak), float64(fl.peak)),
			Ratio(float64(fnSize.Size()), float64(flSize.Size())))
		b.ReportMetric(float64(fn.ready)/1e6, "function-ready-ms")
		b.ReportMetric(float64(fl.ready)/1e6, "floor-ready-ms")
		b.ReportMetric(float64(fn.rss)/(1<<20), "function-RSS-MiB")
		b.ReportMetric(float64(fl.rss)/(1<<20), "floor-RSS-MiB")
	}
}

// jobFile writes the Job the function builds for the world's events, for
// the floor to create the same object (its name aside).
func (w *world) jobFile(b *testing.B, client *http.Client) string {
	b.Helper()
	job, _, err := newBaseline(b, w, client).job(w.triggered())
	must(b, err)
	job.Name = ""
	data, err := json.Marshal(job)
	must(b, err)
	path := filepath.Join(b.TempDir(), "job.json")
	must(b, os.WriteFile(path, data, 0o600))
	return path
}

func measureStart(b *testing.B, w *world, client httpDoer, bin string, env map[string]string, metrics bool) coldStart {
	b.Helper()
	p := startProcess(b, bin, env, metrics)
	var r coldStart
	r.ready = p.waitReady(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := post(ctx, client, p.url, w.triggered()); err != nil {
		b.Fatalf("%s: first event: %v", bin, err)
	}
	r.firstEvent = time.Since(p.started)
	time.Sleep(time.Second)
	r.rss, r.peak = p.memory(b)
	p.stop()
	return r
}
