package testbed

import (
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestNamespaceName(t *testing.T) {
	tests := []struct {
		test, suffix, want string
	}{
		{"TestJob", "ab12cd", "testjob-ab12cd"},
		{"TestJob/sub_case #1", "ab12cd", "testjob-sub-case-1-ab12cd"},
		{"", "ab12cd", "test-ab12cd"},
		{"///", "", "test"},
		{strings.Repeat("x", 100), "ab12cd", strings.Repeat("x", 56) + "-ab12cd"},
		{strings.Repeat("a-", 40), "z", strings.Repeat("a-", 30) + "a-z"},
	}
	for _, tt := range tests {
		got := NamespaceName(tt.test, tt.suffix)
		if got != tt.want {
			t.Errorf("NamespaceName(%q, %q) = %q, want %q", tt.test, tt.suffix, got, tt.want)
		}
		if !dnsLabel.MatchString(got) || len(got) > 63 {
			t.Errorf("NamespaceName(%q, %q) = %q is not a DNS label", tt.test, tt.suffix, got)
		}
	}
}

func FuzzNamespaceName(f *testing.F) {
	for _, s := range []string{"TestX", "Test/Sub case", "", "--", "ÄÖÜ/ß", strings.Repeat("Long", 30)} {
		f.Add(s, "a1b2c3")
	}
	f.Fuzz(func(t *testing.T, test, suffix string) {
		got := NamespaceName(test, suffix)
		if !dnsLabel.MatchString(got) || len(got) > 63 {
			t.Fatalf("NamespaceName(%q, %q) = %q is not a DNS label", test, suffix, got)
		}
	})
}

func TestCRILog(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tests := []struct{ text, want string }{
		{"hello", "2026-11-27T09:00:00.000000000Z stdout F hello\n"},
		{"hello\n", "2026-11-27T09:00:00.000000000Z stdout F hello\n"},
		{"a\n\nb", "2026-11-27T09:00:00.000000000Z stdout F a\n2026-11-27T09:00:00.000000000Z stdout F \n2026-11-27T09:00:00.000000000Z stdout F b\n"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(CRILog(tt.text, at)); got != tt.want {
			t.Errorf("CRILog(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// parseCRILog reads records as kubelets do: "<time> <stream> <tag> <line>".
func parseCRILog(t *testing.T, data string) string {
	t.Helper()
	var out strings.Builder
	for _, rec := range strings.SplitAfter(data, "\n") {
		if rec == "" {
			continue
		}
		parts := strings.SplitN(strings.TrimSuffix(rec, "\n"), " ", 4)
		if len(parts) != 4 || parts[1] != "stdout" || parts[2] != "F" {
			t.Fatalf("bad CRI record %q", rec)
		}
		if _, err := time.Parse(time.RFC3339Nano, parts[0]); err != nil {
			t.Fatalf("bad CRI time in %q: %v", rec, err)
		}
		out.WriteString(parts[3] + "\n")
	}
	return out.String()
}

func FuzzCRILog(f *testing.F) {
	for _, s := range []string{"hello", "a\nb\n", "", "\n", "tab\there", "trailing space "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := parseCRILog(t, string(CRILog(text, logTimestamp)))
		want := strings.TrimSuffix(text, "\n")
		if want != "" {
			want += "\n"
		}
		if got != want {
			t.Fatalf("CRILog(%q) reads back as %q, want %q", text, got, want)
		}
	})
}

func TestCacheKey(t *testing.T) {
	if got := cacheKey("kube", "v1.37.2", "go1.26.8", "abc"); got != "kube-v1.37.2-go1.26.8-abc" {
		t.Errorf("cacheKey = %q", got)
	}
	if got := cacheKey("adapter", "v0.0.0-2025+x/y", "go1.26 X:boring"); got != "adapter-v0.0.0-2025_x_y-go1.26_X_boring" {
		t.Errorf("cacheKey = %q", got)
	}
}

func FuzzCacheKey(f *testing.F) {
	f.Add("kube", "v1.37.2", "go1.26.8")
	f.Add("../x", "a/b", "c d")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		got := cacheKey(a, b, c)
		if strings.ContainsAny(got, "/\\\x00 ") || got == "." || got == ".." {
			t.Fatalf("cacheKey(%q, %q, %q) = %q is not a safe directory name", a, b, c, got)
		}
	})
}

func TestKubeLDFlags(t *testing.T) {
	got := kubeLDFlags("v1.37.2")
	for _, want := range []string{".gitVersion=v1.37.2", ".gitMajor=1", ".gitMinor=37"} {
		if !strings.Contains(got, want) {
			t.Errorf("kubeLDFlags = %q, missing %q", got, want)
		}
	}
}

func TestAdapterEnv(t *testing.T) {
	vars := []corev1.EnvVar{
		{Name: "K_SINK", Value: "http://127.0.0.1:1"},
		{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "K_LOGGING_CONFIG"},
	}
	got, err := adapterEnv(vars, "ns1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"K_SINK=http://127.0.0.1:1", "NAMESPACE=ns1"}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("adapterEnv = %q, want %q", got, want)
	}
	_, err = adapterEnv([]corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}, "ns1")
	if err == nil || !strings.Contains(err.Error(), "X") {
		t.Errorf("adapterEnv with metadata.name: err = %v, want an error naming X", err)
	}
}
