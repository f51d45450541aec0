package jobs

// AnnotationStopped is set by the reporter, in the same update that takes
// the report claim, when it stops a Job that can never succeed (fail fast:
// an image that cannot be pulled, a missing Secret, a pod nobody schedules).
// Its value is the JSON verdict at the moment of stopping, so that a retry
// after a crash or a failed send reports the same reason, not the
// DeadlineExceeded the stop itself causes.
const AnnotationStopped = Domain + "stopped"
