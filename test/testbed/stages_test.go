package testbed

import (
	"context"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestImageExit(t *testing.T) {
	if got := ImageExit(3); got != "testbed.local/exit:3" {
		t.Errorf("ImageExit(3) = %q", got)
	}
}

// The kwok config must carry kwok's default pod stages as well as ours,
// each a separate YAML document, because a --config with pod stages
// replaces kwok's defaults.
func TestKwokConfigHasDefaultAndTestbedStages(t *testing.T) {
	dir, err := moduleDir(context.Background(), os.TempDir(), "sigs.k8s.io/kwok", KwokVersion)
	if err != nil {
		t.Fatalf("kwok module: %v", err)
	}
	config, err := kwokConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, doc := range strings.Split(string(config), "\n---\n") {
		var stage struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Weight int `json:"weight"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &stage); err != nil {
			t.Fatalf("document %q is not YAML: %v", doc[:min(len(doc), 80)], err)
		}
		if stage.Kind != "Stage" {
			t.Errorf("document %q is a %q, want Stage", stage.Metadata.Name, stage.Kind)
		}
		if strings.HasPrefix(stage.Metadata.Name, "testbed-") != (stage.Spec.Weight > 0) {
			t.Errorf("stage %s has weight %d: only the test bed's stages may outweigh kwok's", stage.Metadata.Name, stage.Spec.Weight)
		}
		names = append(names, stage.Metadata.Name)
	}
	want := "pod-ready,pod-complete,pod-delete,testbed-pod-run,testbed-pod-hold"
	if strings.Join(names, ",") != want {
		t.Errorf("stages = %v, want %s", names, want)
	}
}
