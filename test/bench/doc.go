// Package bench measures the function against the limits of its design on
// the test bed (`make bench`; results in docs/benchmarks.md): throughput and
// latency to Job against raw client-go doing the same writes and creating
// Jobs alone, completion to .finished through the real ApiServerSource
// adapter against three floor reporters in the bench's process, scale from
// zero against a floor program (floor/), memory and sweep time with 100,
// 1,000 and 5,000 running Jobs, API calls per event, and what an idle
// cluster costs (wake-ups per idle hour, pods of ours while idle). Every
// benchmark runs its scenario once per b.N iteration (run with
// -benchtime 1x) and prints "summary:" lines; none asserts a time.
//
// The package's tests check that the function's observability works on the
// bed: metrics move, Kubernetes Events are recorded on Jobs, the
// traceparent reaches Keptn, and log lines name their event.
package bench
