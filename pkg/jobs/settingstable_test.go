package jobs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// TestSettingDefaultsAreDefaultSettings keeps the documented defaults (the
// --help, docs and ConfigMap column) equal to what DefaultSettings does.
func TestSettingDefaultsAreDefaultSettings(t *testing.T) {
	env := map[string]string{}
	for _, s := range SettingsTable {
		if s.Default != "" && !strings.HasPrefix(s.Default, "$") {
			env[s.Env] = s.Default
		}
	}
	got, err := SettingsFromEnv(env)
	require.NoError(t, err)
	assert.Equal(t, DefaultSettings(), got)
}

func TestSettingsTableNames(t *testing.T) {
	keys, envs := map[string]bool{}, map[string]bool{}
	for _, s := range SettingsTable {
		require.NotEmpty(t, s.Key)
		require.NotEmpty(t, s.Env, "%s has no environment variable: the function could not set it", s.Key)
		require.NotEmpty(t, s.Help, s.Key)
		require.NotNil(t, s.set, s.Key)
		assert.False(t, keys[s.Key] || envs[s.Env], "%s/%s named twice", s.Key, s.Env)
		keys[s.Key], envs[s.Env] = true, true
	}
}

func TestSettingsFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Settings)
		err  string
	}{
		{name: "empty keeps the defaults", env: map[string]string{"JOB_NAMESPACE": " "}, want: func(*Settings) {}},
		{name: "CA, timeout, ids and ttl", env: map[string]string{
			"KEPTN_CA_CONFIGMAP": "keptn-ca/ca.crt", "FETCH_TIMEOUT": "90s", "RUN_AS_USER": "2000",
			"RUN_AS_GROUP": "3000", "FS_GROUP": "0", "JOB_TTL_SECONDS_AFTER_FINISHED": "60",
		}, want: func(s *Settings) {
			s.CAConfigMap = &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-ca"}, Key: "ca.crt"}
			s.FetchTimeoutSeconds, s.RunAsUser, s.RunAsGroup, s.FSGroup, s.TTLSecondsAfterFinished = 90, 2000, 3000, 0, 60
		}},
		{name: "API URL", env: map[string]string{"KEPTN_API_URL": "https://k/api/"}, want: func(s *Settings) {
			s.KeptnAPIURL = "https://k/api/resource-service"
		}},
		{name: "resources in flow YAML", env: map[string]string{"TASK_RESOURCES": "{limits: {cpu: 2}}"}, want: func(s *Settings) {
			s.TaskResources = resourcesOf(t, "{limits: {cpu: 2}}")
		}},
		{name: "each bad value is named", env: map[string]string{"RUN_AS_USER": "0", "KEPTN_CA_CONFIGMAP": "ca"},
			err: "KEPTN_CA_CONFIGMAP: \"ca\": want <name>/<key>\nRUN_AS_USER: \"0\": want a whole number from 1 to 2147483647"},
		{name: "resources not a mapping", env: map[string]string{"FETCHER_RESOURCES": "64Mi"},
			err: "FETCHER_RESOURCES: must be a mapping with requests and/or limits, such as {limits: {cpu: 1}}"},
		{name: "together unsafe", env: map[string]string{"WORKSPACE_SIZE": "2Gi", "MAX_WORKSPACE_SIZE": "1Gi"},
			err: "settings: max workspace size 1Gi is below the default 2Gi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SettingsFromEnv(tt.env)
			if tt.err != "" {
				require.Error(t, err)
				assert.Equal(t, tt.err, err.Error())
				return
			}
			require.NoError(t, err)
			want := DefaultSettings()
			tt.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func resourcesOf(t *testing.T, v string) (r corev1.ResourceRequirements) {
	t.Helper()
	require.NoError(t, resources(v, &r))
	return r
}

// FuzzSettingsFromEnv: any value of any setting is either refused with the
// variable's name or gives settings that validate.
func FuzzSettingsFromEnv(f *testing.F) {
	for i, s := range SettingsTable {
		f.Add(i, s.Default)
	}
	f.Add(0, "{requests: {cpu: 2}, limits: {cpu: 1}}")
	f.Add(1, "&a [*a]")
	f.Fuzz(func(t *testing.T, i int, v string) {
		if i < 0 {
			i = -i
		}
		st := SettingsTable[i%len(SettingsTable)]
		s, err := SettingsFromEnv(map[string]string{st.Env: v})
		if err != nil {
			if !strings.HasPrefix(err.Error(), st.Env+": ") && !strings.HasPrefix(err.Error(), "settings: ") {
				t.Fatalf("error does not name %s: %v", st.Env, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted settings that do not validate: %v", err)
		}
	})
}
