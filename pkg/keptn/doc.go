// Package keptn holds what this service knows of Keptn's v1 control plane:
// task events in (parsed from CloudEvents) and .started/.finished/log.error
// events out, on go-utils' wire types. The resource-service client is
// pkg/resources.
package keptn
