package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

func TestApplySettings(t *testing.T) {
	p := parsePolicy(t, `apiVersion: v1
resources:
  defaults:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {cpu: 500m, memory: 256Mi}
  max: {cpu: "1", memory: 1Gi}
  maxWorkspace: 100Mi
`)
	s, err := p.ApplySettings(jobs.DefaultSettings())
	require.NoError(t, err)
	assert.Equal(t, resource.MustParse("500m"), s.TaskResources.Limits["cpu"])
	assert.Equal(t, resource.MustParse("32Mi"), s.TaskResources.Requests["memory"])
	assert.Equal(t, resource.MustParse("100Mi"), s.MaxWorkspaceSize)
	require.NoError(t, s.Validate())
}

func TestApplySettingsRefusesDefaultsAboveTheCeiling(t *testing.T) {
	// The built-in task default is 512Mi of memory.
	p := parsePolicy(t, "apiVersion: v1\nresources:\n  max: {memory: 256Mi}\n")
	_, err := p.ApplySettings(jobs.DefaultSettings())
	require.ErrorContains(t, err, "limits.memory 512Mi is above resources.max.memory 256Mi")

	p = parsePolicy(t, "apiVersion: v1\nresources:\n  maxWorkspace: 10Mi\n")
	_, err = p.ApplySettings(jobs.DefaultSettings())
	require.ErrorContains(t, err, "default workspace size 20Mi is above resources.maxWorkspace 10Mi")
}

func TestDefaultPolicyKeepsSettings(t *testing.T) {
	s, err := Default().ApplySettings(jobs.DefaultSettings())
	require.NoError(t, err)
	assert.Equal(t, jobs.DefaultSettings().TaskResources, s.TaskResources)
}
