package testbed

import (
	"strings"
	"testing"
)

func TestDecodeManifests(t *testing.T) {
	tests := []struct {
		name, in  string
		wantKinds []string
		wantErr   string
	}{
		{name: "two documents", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n", wantKinds: []string{"ConfigMap", "Secret"}},
		{name: "empty documents skipped", in: "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n", wantKinds: []string{"ConfigMap"}},
		{name: "json", in: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, wantKinds: []string{"ConfigMap"}},
		{name: "missing kind", in: "apiVersion: v1\nmetadata: {name: a}\n", wantErr: "document 1: apiVersion and kind are required"},
		{name: "missing name", in: "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: ConfigMap\n", wantErr: "document 1 (ConfigMap): metadata.name is required"},
		{name: "bad yaml in second document", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [\n", wantErr: "document 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeManifests("in.yaml", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "in.yaml: ") {
					t.Fatalf("err = %v, want one starting with in.yaml: and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.GetKind())
			}
			if strings.Join(kinds, ",") != strings.Join(tt.wantKinds, ",") {
				t.Errorf("kinds = %v, want %v", kinds, tt.wantKinds)
			}
		})
	}
}

func FuzzDecodeManifests(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n")
	f.Add(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`)
	f.Add("---\n---\n")
	f.Add("kind: [\n")
	f.Fuzz(func(t *testing.T, in string) {
		objs, err := DecodeManifests("fuzz.yaml", []byte(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		for _, o := range objs {
			if o.GetKind() == "" || o.GetAPIVersion() == "" || o.GetName() == "" {
				t.Fatalf("decoded an object without kind, apiVersion or name: %v", o.Object)
			}
		}
	})
}
