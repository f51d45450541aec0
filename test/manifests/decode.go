package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one manifest document decoded into its Go type.
type Object struct {
	// Source is "<file>:<line>" of the document, for error messages.
	Source string
	GVK    schema.GroupVersionKind
	// Typed is a pointer to the Go type, e.g. *servingv1.Service.
	Typed any
	// YAML is the document as written.
	YAML []byte
}

// Name is the object's namespace/name (or name when cluster-scoped).
func (o Object) Name() string {
	m, ok := o.Typed.(metav1.Object)
	if !ok {
		return ""
	}
	if m.GetNamespace() == "" {
		return m.GetName()
	}
	return m.GetNamespace() + "/" + m.GetName()
}

// Key is "Kind namespace/name", unique within one kustomize build.
func (o Object) Key() string { return o.GVK.Kind + " " + o.Name() }

// Decode decodes one document strictly: an unknown or duplicate field, a
// wrong type or an unregistered kind is an error naming source.
func Decode(source string, doc []byte) (Object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return Object{}, fmt.Errorf("%s: %w", source, err)
	}
	gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	if tm.APIVersion == "" || tm.Kind == "" {
		return Object{}, fmt.Errorf("%s: document has no apiVersion or kind", source)
	}
	newType, ok := goTypes[gvk]
	if !ok {
		return Object{}, fmt.Errorf("%s: no Go type registered for %s (add it to goTypes)", source, gvk)
	}
	// As kubectl does: YAML to JSON without looking at the Go type (so 5
	// stays a number, which a string field refuses), then the API server's
	// own strict decoding: case-sensitive, unknown and duplicate fields
	// reported with their paths.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", source, err)
	}
	typed := newType()
	strictErrs, err := kjson.UnmarshalStrict(js, typed)
	if err == nil {
		err = errors.Join(strictErrs...)
	}
	if err != nil {
		return Object{}, fmt.Errorf("%s: %s: %w", source, gvk.Kind, err)
	}
	return Object{Source: source, GVK: gvk, Typed: typed, YAML: doc}, nil
}

// DecodeFile decodes every document of one file.
func DecodeFile(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []Object
	for _, doc := range Split(data) {
		obj, err := Decode(fmt.Sprintf("%s:%d", path, doc.Line), doc.Data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// LoadDir decodes every *.yaml and *.yml file under dir, kustomization files
// included, in lexical order.
func LoadDir(dir string) ([]Object, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var objs []Object
	for _, p := range paths {
		o, err := DecodeFile(p)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}
