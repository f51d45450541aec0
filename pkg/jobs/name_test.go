package jobs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNameIsDeterministicAndDistinct(t *testing.T) {
	a := Name("shipyard-controller", "2c8b3f1e-0b7e-4b0b-9b3a-1f2e3d4c5b6a", 0, "Run tests")
	assert.Equal(t, a, Name("shipyard-controller", "2c8b3f1e-0b7e-4b0b-9b3a-1f2e3d4c5b6a", 0, "Run tests"), "same inputs, same name")
	assert.True(t, strings.HasPrefix(a, "keptn-run-tests-"), a)
	for _, other := range []string{
		Name("shipyard-controller", "2c8b3f1e-0b7e-4b0b-9b3a-1f2e3d4c5b6a", 1, "Run tests"),
		Name("another-source", "2c8b3f1e-0b7e-4b0b-9b3a-1f2e3d4c5b6a", 0, "Run tests"),
		Name("shipyard-controller", "2c8b3f1e-0b7e-4b0b-9b3a-1f2e3d4c5b6b", 0, "Run tests"),
	} {
		assert.NotEqual(t, a, other)
	}
	// The readable part is for people only: renaming the action of a
	// redelivered event must not matter for uniqueness, but the hash differs
	// only with (source, id, index).
	b := Name("shipyard-controller", "2c8b3f1e-0b7e-4b0b-9b3a-1f2e3d4c5b6a", 0, "other")
	assert.Equal(t, a[len(a)-hashLen:], b[len(b)-hashLen:])
}

func TestNameShapes(t *testing.T) {
	tests := []struct {
		name, source, id, action, want string
	}{
		// JES panicked on ids under 24 characters.
		{name: "short id", source: "s", id: "1", action: "a", want: "keptn-a-"},
		{name: "empty id", source: "s", id: "", action: "a", want: "keptn-a-"},
		{name: "no readable part", source: "s", id: "x", action: "!!!", want: "keptn-"},
		{name: "long action", source: "s", id: "x", action: strings.Repeat("Long Action Name ", 10), want: "keptn-long-action-name-long"},
		{name: "unicode", source: "s", id: "x", action: "Tëst Ünïcode", want: "keptn-t-st-n-code-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Name(tt.source, tt.id, 0, tt.action)
			assert.True(t, strings.HasPrefix(got, tt.want), "%q does not start with %q", got, tt.want)
			assert.Empty(t, validation.IsDNS1123Label(got), "%q", got)
		})
	}
}

func TestContainerName(t *testing.T) {
	assert.Equal(t, "task-0-greet-the-world", ContainerName(0, "Greet the world"))
	assert.Equal(t, "task-3", ContainerName(3, "***"))
	long := ContainerName(12, strings.Repeat("x", 100))
	assert.Len(t, long, 63)
	assert.Empty(t, validation.IsDNS1123Label(long))
}

func TestLabelValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"podtato-head", "podtato-head"},
		{"a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d", "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"},
		{"Run tests!", "Run_tests"},
		{"", ""},
	}
	for _, tt := range tests {
		got := LabelValue(tt.in)
		assert.True(t, strings.HasPrefix(got, tt.want), "LabelValue(%q) = %q", tt.in, got)
		assert.Empty(t, validation.IsValidLabelValue(got), "LabelValue(%q) = %q", tt.in, got)
	}
	assert.NotEqual(t, LabelValue("a b"), LabelValue("a/b"), "sanitised values keep distinct inputs distinct")
}

func TestLabelEnvName(t *testing.T) {
	assert.Equal(t, "LABELS_BUILD_ID", LabelEnvName("build-id"))
	assert.Equal(t, "LABELS_MY_LABEL", LabelEnvName("my label"))
}

func FuzzName(f *testing.F) {
	f.Add("shipyard-controller", "2c8b3f1e", 0, "Run tests")
	f.Add("", "", 999, "")
	f.Add("s", "id", -1, "ÄÖÜ---...")
	f.Fuzz(func(t *testing.T, source, id string, index int, action string) {
		got := Name(source, id, index, action)
		require.Empty(t, validation.IsDNS1123Label(got), "%q", got)
		require.Equal(t, got, Name(source, id, index, action))
	})
}

func FuzzLabelValue(f *testing.F) {
	f.Add("podtato-head")
	f.Add("-x-")
	f.Add(strings.Repeat("a", 80))
	f.Fuzz(func(t *testing.T, s string) {
		got := LabelValue(s)
		require.Empty(t, validation.IsValidLabelValue(got), "LabelValue(%q) = %q", s, got)
	})
}

func TestAfterWaitName(t *testing.T) {
	for name, tc := range map[string]struct{ in, prefix string }{
		"readable kept":    {Name("s", "id", 0, "Run tests"), "keptn-run-tests-"},
		"hash only":        {Name("s", "id", 0, ""), "keptn-"},
		"long action name": {Name("s", "id", 0, strings.Repeat("a", 80)), "keptn-aaaa"},
	} {
		t.Run(name, func(t *testing.T) {
			got := AfterWaitName(tc.in)
			assert.True(t, strings.HasPrefix(got, tc.prefix), got)
			assert.NotEqual(t, tc.in, got)
			assert.Len(t, got, len(tc.in), "same shape as the name it follows")
			assert.Equal(t, got, AfterWaitName(tc.in))
		})
	}
}

func FuzzAfterWaitName(f *testing.F) {
	f.Add("shipyard-controller", "2c8b3f1e", 0, "Run tests")
	f.Add("", "", -1, "")
	f.Fuzz(func(t *testing.T, source, id string, index int, action string) {
		n := Name(source, id, index, action)
		got := AfterWaitName(n)
		require.Empty(t, validation.IsDNS1123Label(got), "%q", got)
		require.NotEqual(t, n, got)
		require.NotEqual(t, got, AfterWaitName(got), "a name after a name after is another name")
	})
}
