// Package reporter sends a Job's Keptn responses exactly once: .started when
// the Job exists, .finished when it has ended. It reads Jobs and pods, has
// pkg/verdict judge them and pkg/finished compose the message, then claims,
// sends and marks; the ApiServerSource watch and the PingSource sweep both
// end here.
package reporter
