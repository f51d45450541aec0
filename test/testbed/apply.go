package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// FieldManager is the server-side apply field manager of Apply.
const FieldManager = "testbed"

// DecodeManifests splits YAML documents (separated by ---) or JSON objects
// into objects, skipping empty documents. source names the input in errors.
func DecodeManifests(source string, manifests []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: document %d: apiVersion and kind are required", source, doc)
		}
		if u.GetName() == "" {
			return nil, fmt.Errorf("%s: document %d (%s): metadata.name is required", source, doc, u.GetKind())
		}
		objs = append(objs, u)
	}
}

// Apply server-side applies every object in manifests with strict field
// validation, so an unknown or misspelt field is an error as with
// `kubectl apply --server-side --validate=strict`. Namespaced objects without
// a namespace go to namespace. It returns the objects as stored.
func (b *Bed) Apply(ctx context.Context, namespace string, manifests []byte) ([]*unstructured.Unstructured, error) {
	objs, err := DecodeManifests("manifests", manifests)
	if err != nil {
		return nil, err
	}
	return b.ApplyObjects(ctx, namespace, objs...)
}

// ApplyObjects is Apply for decoded objects.
func (b *Bed) ApplyObjects(ctx context.Context, namespace string, objs ...*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		applied, err := b.applyOne(ctx, namespace, obj)
		if err != nil {
			return out, err
		}
		out = append(out, applied)
	}
	return out, nil
}

func (b *Bed) applyOne(ctx context.Context, namespace string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := b.restMapping(gvk)
	if err != nil {
		return nil, fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	ri := b.dynamic.Resource(mapping.Resource)
	var client interface {
		Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*unstructured.Unstructured, error)
	} = ri
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = namespace
		}
		if ns == "" {
			return nil, fmt.Errorf("apply %s %s: namespaced object and no namespace given", gvk.Kind, obj.GetName())
		}
		obj = obj.DeepCopy()
		obj.SetNamespace(ns)
		client = ri.Namespace(ns)
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	force := true
	applied, err := client.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		FieldManager:    FieldManager,
		Force:           &force,
		FieldValidation: "Strict",
	})
	if err != nil {
		return nil, fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return applied, nil
}

// restMapping finds the resource for a kind, refreshing discovery once when
// the kind is unknown (a CRD may have been installed since the last look).
func (b *Bed) restMapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		b.mapper.Reset()
		m, err = b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs applies the CustomResourceDefinitions found in files (other
// kinds in them are ignored) and waits until the apiserver serves them.
func (b *Bed) installCRDs(ctx context.Context, files []string) error {
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("testbed: read CRDs: %w", err)
		}
		objs, err := DecodeManifests(f, data)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if _, err := b.applyOne(ctx, "", o); err != nil {
				return fmt.Errorf("testbed: install CRD from %s: %w", f, err)
			}
			names = append(names, o.GetName())
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("testbed: no CustomResourceDefinition in %v", files)
	}
	for _, name := range names {
		err := b.waitFor(ctx, nil, "see CRD "+name+" established", func(ctx context.Context) (bool, error) {
			crd, err := b.dynamic.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // not up yet: poll again
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return err
		}
	}
	b.mapper.Reset()
	return nil
}

// kwokCRDFiles are the CRDs of the kwok objects the bed creates at run time.
func kwokCRDFiles(kwokDir string) []string {
	bases := filepath.Join(kwokDir, "kustomize", "crd", "bases")
	return []string{
		filepath.Join(bases, "kwok.x-k8s.io_clusterlogs.yaml"),
		filepath.Join(bases, "kwok.x-k8s.io_logs.yaml"),
	}
}

// knativeCRDFiles are Knative Eventing's and Serving's core resource files,
// where their CRDs are defined.
func knativeCRDFiles(eventingDir, servingDir string) []string {
	var files []string
	for _, pattern := range []string{
		filepath.Join(eventingDir, "config", "core", "resources", "*.yaml"),
		filepath.Join(servingDir, "config", "core", "300-resources", "*.yaml"),
	} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	sort.Strings(files)
	return files
}
