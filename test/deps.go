package test

import (
	_ "github.com/getkin/kin-openapi/openapi2"
	_ "github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	_ "github.com/stretchr/testify/require"
	_ "k8s.io/client-go/kubernetes"
	_ "knative.dev/eventing/pkg/apis/sources/v1"
)
