// Package resources is the client of Keptn's resource-service: it fetches
// job/config.yaml and task files from a project's config repository, at
// the service, stage or project level, and from a directory for the
// generic mode (DirSource). It is its own package so that the fetcher,
// which needs only this, links none of Keptn's event types (go-utils).
package resources
