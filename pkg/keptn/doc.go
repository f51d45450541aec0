// Package keptn holds what this service knows of Keptn's v1 control plane:
// task events in (parsed from CloudEvents), .started/.finished/log.error
// events out, and the resource-service client that fetches job/config.yaml and
// task files.
package keptn
