// Package report sends a Job's Keptn responses exactly once: .started when
// the Job exists, .finished when it has ended. The pure half turns Job and pod
// status into .finished data; the other half claims, sends and marks.
package report
