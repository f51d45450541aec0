package jobconfig

import (
	"os"
	"testing"
)

func benchParse(b *testing.B, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("job/config.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse parses the fixtures' complex config, the size of a busy
// real one.
func BenchmarkParse(b *testing.B) {
	benchParse(b, configFixture("complex.yaml"))
}

// BenchmarkParseFull parses a config that uses every field.
func BenchmarkParseFull(b *testing.B) {
	benchParse(b, "testdata/full.yaml")
}

func BenchmarkMatch(b *testing.B) {
	data, err := os.ReadFile(configFixture("complex.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := Parse("job/config.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	event := map[string]any{"type": "sh.keptn.event.action.triggered", "data": map[string]any{"action": map[string]any{"action": "hello"}}}
	b.ReportAllocs()
	for b.Loop() {
		if len(cfg.Match("sh.keptn.event.action.triggered", event)) != 1 {
			b.Fatal("no match")
		}
	}
}

// BenchmarkParseSecurityContext parses the smallest config that has a task
// securityContext: what checking it against Pod Security costs the parser.
func BenchmarkParseSecurityContext(b *testing.B) {
	data := []byte(head + "        securityContext: {runAsUser: 1000, allowPrivilegeEscalation: false, seccompProfile: {type: RuntimeDefault}}\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("job/config.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
