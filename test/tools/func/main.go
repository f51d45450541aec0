// Command funcyaml-check loads a function's func.yaml with kn func's own code
// (knative.dev/func/pkg/functions, the version pinned in this module's go.mod)
// and runs the checks kn func applies to it, printing every problem and
// exiting 1 when there is one.
//
//	funcyaml-check DIR
//
// DIR holds func.yaml. kn func's loader writes a .func directory and a
// .gitignore entry into the function's root, so the file is copied to a
// scratch directory and loaded from there: DIR is only read.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	fn "knative.dev/func/pkg/functions"
	"knative.dev/func/pkg/utils"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: funcyaml-check DIR   (DIR holds func.yaml)")
		os.Exit(2)
	}
	problems, err := check(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "funcyaml-check:", err)
		os.Exit(2)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Println(p)
		}
		os.Exit(1)
	}
	fmt.Printf("func.yaml is valid for kn func (knative.dev/func %s, specVersion %s)\n", funcVersion(), fn.LastSpecVersion())
}

// check returns one line per problem; err is for the checker's own failures
// (unreadable input, no scratch directory).
func check(dir string) (problems []string, err error) {
	data, err := os.ReadFile(filepath.Join(dir, fn.FunctionFile))
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp("", "funcyaml-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	if err := os.WriteFile(filepath.Join(scratch, fn.FunctionFile), data, 0o644); err != nil {
		return nil, err
	}
	add := func(what string, err error) {
		if err != nil {
			problems = append(problems, what+": "+strings.TrimSpace(err.Error()))
		}
	}

	// kn func's loader: YAML into fn.Function, then its migrations. It
	// reports a decoding error only when a migration fails too, and ignores
	// keys its types do not have; the strict decode into the same type
	// reports both.
	f, err := fn.NewFunction(scratch)
	if err != nil {
		add("load", err)
		return problems, nil
	}
	add("decode (strict, into kn func's Function)", yaml.UnmarshalStrict(data, &fn.Function{}))

	// What `func deploy` / `func run` / `func build` require of a loaded function.
	if !f.Initialized() {
		add("initialized", fn.NewErrNotInitialized(f.Root))
	}
	// The loader migrates in memory; func.yaml itself should be at the
	// newest spec version this kn func knows, or kn func rewrites it.
	var written struct {
		SpecVersion string `yaml:"specVersion"`
	}
	if err := yaml.Unmarshal(data, &written); err == nil && !(fn.Function{SpecVersion: written.SpecVersion}).Migrated() {
		add("specVersion", fmt.Errorf("%q is older than %s: kn func would migrate func.yaml and rewrite it", written.SpecVersion, fn.LastSpecVersion()))
	}
	add("validate", f.Validate())
	if f.Name == "" {
		add("name", fn.ErrNameRequired)
	} else {
		add("name", utils.ValidateFunctionName(f.Name))
	}
	if f.Image != "" {
		_, err := name.ParseReference(f.Image)
		add("image", err)
	}
	// The labels the deployer puts on the Service: kn func's defaults plus
	// deploy.labels, validated together.
	_, err = f.LabelsMap()
	add("labels", err)

	// The runtimes kn func knows (its embedded templates).
	runtimes, err := fn.New().Runtimes()
	add("runtimes", err)
	if err == nil && !slices.Contains(runtimes, f.Runtime) {
		add("runtime", fmt.Errorf("%q is none of kn func's runtimes %v", f.Runtime, runtimes))
	}

	// The constraints kn func declares on its own types (the jsonschema
	// tags its schema is generated from): enums, patterns, bounds.
	for _, p := range tagProblems(reflect.ValueOf(f), "") {
		add("field", errors.New(p))
	}

	// deploy.subscriptions become Triggers on the cluster; build them as kn
	// func's Knative deployer does and run Knative Eventing's validation.
	for i, t := range triggers(f) {
		if fe := t.Validate(context.Background()); fe != nil {
			add(fmt.Sprintf("deploy.subscriptions[%d]", i), fe)
		}
	}
	return problems, nil
}

// triggers are the Triggers kn func's Knative deployer creates for the
// function's subscriptions (knative.dev/func/pkg/knative createTriggers).
func triggers(f fn.Function) []*eventingv1.Trigger {
	ns := f.Namespace
	if ns == "" {
		ns = f.Deploy.Namespace
	}
	var out []*eventingv1.Trigger
	for i, sub := range f.Deploy.Subscriptions {
		attributes := map[string]string{}
		for k, v := range sub.Filters {
			attributes[k] = v
		}
		out = append(out, &eventingv1.Trigger{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-function-trigger-%d", f.Name, i), Namespace: ns},
			Spec: eventingv1.TriggerSpec{
				Broker: sub.Source,
				Subscriber: duckv1.Destination{Ref: &duckv1.KReference{
					APIVersion: "serving.knative.dev/v1",
					Kind:       "Service",
					Name:       f.Name,
				}},
				Filter: &eventingv1.TriggerFilter{Attributes: attributes},
			},
		})
	}
	return out
}

// tagProblems walks v and checks every set string or number field against
// the enum=, pattern=, minimum= and maximum= of its jsonschema tag.
func tagProblems(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return tagProblems(v.Elem(), path)
	case reflect.Slice:
		var out []string
		for i := 0; i < v.Len(); i++ {
			out = append(out, tagProblems(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case reflect.Struct:
		var out []string
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			key := strings.Split(sf.Tag.Get("yaml"), ",")[0]
			if !sf.IsExported() || key == "-" {
				continue
			}
			if key == "" {
				key = strings.ToLower(sf.Name)
			}
			p := key
			if path != "" {
				p = path + "." + key
			}
			fv := v.Field(i)
			if tag := sf.Tag.Get("jsonschema"); tag != "" {
				out = append(out, checkTag(fv, p, tag)...)
			}
			out = append(out, tagProblems(fv, p)...)
		}
		return out
	}
	return nil
}

func checkTag(v reflect.Value, path, tag string) []string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var enum []string
	var out []string
	for _, part := range strings.Split(tag, ",") {
		k, arg, _ := strings.Cut(part, "=")
		switch k {
		case "enum":
			enum = append(enum, arg)
		case "pattern":
			if v.Kind() == reflect.String && v.String() != "" && !regexp.MustCompile(arg).MatchString(v.String()) {
				out = append(out, fmt.Sprintf("%s: %q does not match %s", path, v.String(), arg))
			}
		case "minimum", "maximum":
			bound, err := strconv.ParseFloat(arg, 64)
			if err != nil || (v.Kind() != reflect.Float64 && v.Kind() != reflect.Int64 && v.Kind() != reflect.Int) {
				continue
			}
			x := v.Convert(reflect.TypeFor[float64]()).Float()
			if (k == "minimum" && x < bound) || (k == "maximum" && x > bound) {
				out = append(out, fmt.Sprintf("%s: %v is out of its %s %v", path, x, k, bound))
			}
		}
	}
	if len(enum) > 0 && v.Kind() == reflect.String && v.String() != "" && !slices.Contains(enum, v.String()) {
		out = append(out, fmt.Sprintf("%s: %q is none of %v", path, v.String(), enum))
	}
	return out
}

// funcVersion is the knative.dev/func version compiled in.
func funcVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "knative.dev/func" {
				return d.Version
			}
		}
	}
	return "(unknown)"
}
