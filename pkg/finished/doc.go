// Package finished composes a .finished event's data from a verdict and the
// tasks' logs, within the size Keptn's api-service accepts, and the ever
// smaller versions sent when an operator lowered that limit. It is pure.
package finished
