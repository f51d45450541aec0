// Package verdict judges a Job from its status and its pods: status and
// result for Keptn, a line per task (exit code, reason, whether it ran), the
// structured results of termination messages, and when to stop a Job that
// can never run. It is pure: the clock is an argument, so the sweep and the
// watch reach the same verdict on the same objects.
package verdict
