// Package jobs turns a job/config.yaml action and a Keptn task event into the
// Kubernetes Job that runs it. It is pure: the same inputs give the same Job,
// which is what makes redelivered events harmless (same name, AlreadyExists).
package jobs
