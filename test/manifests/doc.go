// Package manifests loads the shipped deployment files (config/knative,
// func.yaml) the way the cluster will see them: every YAML document decoded
// strictly into its Go type, and kustomize builds run in-process. Its tests
// check them with Knative's own admission logic; end-to-end tests use Build
// to apply the same objects to the test bed.
package manifests
