package manifests

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const distroless = "gcr.io/distroless/static:nonroot"

// The images the manifests name: the function and the fetcher init
// container, both built by ko and by the Dockerfile from the same mains.
var imageMains = map[string]string{"function": "./cmd/function", "initcontainer": "./initcontainer"}

func TestKoBuildsBothBinariesOnDistroless(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, ".ko.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ko struct {
		DefaultBaseImage string   `json:"defaultBaseImage"`
		DefaultPlatforms []string `json:"defaultPlatforms"`
		Builds           []struct {
			ID      string   `json:"id"`
			Main    string   `json:"main"`
			Env     []string `json:"env"`
			Flags   []string `json:"flags"`
			Ldflags []string `json:"ldflags"`
		} `json:"builds"`
	}
	if err := yaml.UnmarshalStrict(data, &ko); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	if ko.DefaultBaseImage != distroless {
		t.Errorf("defaultBaseImage %q, want %s", ko.DefaultBaseImage, distroless)
	}
	got := map[string]string{}
	for _, b := range ko.Builds {
		got[b.ID] = b.Main
		if !strings.Contains(strings.Join(b.Env, " "), "CGO_ENABLED=0") || !strings.Contains(strings.Join(b.Ldflags, " "), "-s -w") {
			t.Errorf("build %s: want CGO_ENABLED=0 and -ldflags -s -w", b.ID)
		}
	}
	for id, main := range imageMains {
		if got[id] != main {
			t.Errorf("ko build %s builds %q, want %s", id, got[id], main)
		}
	}
	mustBeMains(t)
}

func mustBeMains(t *testing.T) {
	t.Helper()
	args := []string{"list", "-f", "{{.ImportPath}} {{.Name}}"}
	for _, m := range imageMains {
		args = append(args, m)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = repoPath(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasSuffix(line, " main") {
			t.Errorf("%s: not a main package", line)
		}
	}
}

func TestDockerfileTargets(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for name, main := range imageMains {
		final := regexp.MustCompile(`(?m)^FROM ` + regexp.QuoteMeta(distroless) + ` AS ` + name + `$`)
		if !final.MatchString(df) {
			t.Errorf("no target %s FROM %s", name, distroless)
		}
		build := regexp.MustCompile(`go build -trimpath -ldflags "-s -w" -o /out/` + name + ` ` + regexp.QuoteMeta(main) + `\n`)
		if !build.MatchString(df) {
			t.Errorf("no stripped, trimmed build of %s into /out/%s", main, name)
		}
	}
	if !strings.Contains(df, "ENV CGO_ENABLED=0") {
		t.Error("builds must be static (CGO_ENABLED=0)")
	}
	// The last stage is what a plain `docker build .` produces.
	stages := regexp.MustCompile(`(?m)^FROM .* AS (\S+)$`).FindAllStringSubmatch(df, -1)
	if len(stages) == 0 || stages[len(stages)-1][1] != "function" {
		t.Error("the function must be the last (default) stage")
	}
}
