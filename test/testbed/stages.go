package testbed

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// testbedStages are the Stages that give reserved test images their
// behaviour; see test/README.md for the contract.
//
//go:embed stages.yaml
var testbedStages []byte

// Images that testbedStages give a behaviour. Any other image under
// ImagePrefix is an unknown test image and is reported as ErrImagePull, so a
// typo cannot silently pass for a successful container.
const (
	ImagePrefix = "testbed.local/"
	// ImageSleep runs until the pod is deleted (for deadlines).
	ImageSleep = ImagePrefix + "sleep"
	// ImagePullBackOff never starts: the container waits in ImagePullBackOff.
	ImagePullBackOff = ImagePrefix + "imagepull"
	// ImageConfigError never starts: the container waits in
	// CreateContainerConfigError.
	ImageConfigError = ImagePrefix + "configerror"
	// ImageOOMKilled terminates with exit code 137 and reason OOMKilled.
	ImageOOMKilled = ImagePrefix + "oomkilled"
	// ImageResult exits 0 leaving ResultMessage as its termination message,
	// as a task reporting structured results does.
	ImageResult = ImagePrefix + "result"
	// ResultMessage is ImageResult's termination message.
	ResultMessage = `{"result":"warning","sli":{"response_time_p95_ms":230,"error_rate":0.01}}`
)

// ImageExit is the image whose container terminates with code (0-255); a
// non-zero code stops the pod there and fails it.
func ImageExit(code int) string {
	return fmt.Sprintf("%sexit:%d", ImagePrefix, code)
}

// kwokConfig is the --config document stream for kwok: kwok's own default
// pod stages (a --config with any pod Stage replaces them, so they are read
// from the kwok module, as kustomize/stage/pod/fast lists them) followed by
// the test bed's stages.
func kwokConfig(kwokModuleDir string) ([]byte, error) {
	fast := filepath.Join(kwokModuleDir, "kustomize", "stage", "pod", "fast")
	files, err := kustomizeResources(filepath.Join(fast, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	docs := make([][]byte, 0, len(files)+1)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(fast, f))
		if err != nil {
			return nil, fmt.Errorf("read kwok default stage: %w", err)
		}
		docs = append(docs, bytes.TrimSpace(data))
	}
	docs = append(docs, bytes.TrimSpace(testbedStages))
	return append(bytes.Join(docs, []byte("\n---\n")), '\n'), nil
}

// kustomizeResources lists the resources of a kustomization.yaml.
func kustomizeResources(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kwok default stages: %w", err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(k.Resources) == 0 {
		return nil, fmt.Errorf("%s: no resources listed", path)
	}
	for _, r := range k.Resources {
		if strings.Contains(r, "/") || !strings.HasSuffix(r, ".yaml") {
			return nil, fmt.Errorf("%s: resource %q is not a local YAML file", path, r)
		}
	}
	return k.Resources, nil
}
