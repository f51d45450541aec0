package jobconfig

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// into decodes a node into a Kubernetes API value (tolerations, affinity,
// securityContext) by the value's JSON field names, strictly, so that a
// typo deep inside an affinity still gets its own line and path. Decoding
// through sigs.k8s.io/yaml and encoding/json would only point at the top.
func (d *decoder) into(n *yaml.Node, path string, v reflect.Value) {
	n = yamlnode.Resolve(n)
	if n != nil {
		d.nodes[path] = n
	}
	if yamlnode.IsNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(jsonUnmarshaler) {
		d.viaJSON(n, path, v.Addr().Interface().(json.Unmarshaler))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.into(n, path, nv.Elem())
		v.Set(nv)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "must be a mapping (got %s)", yamlnode.Describe(n))
			return
		}
		fields := jsonFields(v.Type())
		for _, p := range d.pairs(n, path) {
			fp := yamlnode.JoinPath(path, p.key)
			idx, ok := fields.index[p.key]
			if !ok {
				d.unknown(p, fp, fields.names)
				continue
			}
			d.into(p.v, fp, v.FieldByIndex(idx))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "must be a list (got %s)", yamlnode.Describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.into(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
			d.errorf(n, path, "must be a mapping (got %s)", yamlnode.Describe(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, p := range d.pairs(n, path) {
			ev := reflect.New(v.Type().Elem()).Elem()
			d.into(p.v, fmt.Sprintf("%s[%q]", path, p.key), ev)
			m.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.String:
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := d.integer(n, path)
		if !ok {
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, path, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if b, ok := d.boolean(n, path); ok {
			v.SetBool(b)
		}
	default:
		// Not reached for the types decoded here; kept as an error rather
		// than a panic in case one grows a field of another kind.
		d.errorf(n, path, "cannot decode a value of Go type %s", v.Type())
	}
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// viaJSON decodes values that define their own JSON form, such as
// resource.Quantity.
func (d *decoder) viaJSON(n *yaml.Node, path string, u json.Unmarshaler) {
	var x any
	if err := n.Decode(&x); err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	b, err := json.Marshal(x)
	if err == nil {
		err = u.UnmarshalJSON(b)
	}
	if err != nil {
		d.errorf(n, path, "%v", err)
	}
}

type fieldSet struct {
	index map[string][]int
	names []string
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// jsonFields maps a struct's JSON names to its fields, inlining embedded
// structs the way encoding/json does.
func jsonFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{index: map[string][]int{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = f.Name
			}
			fs.index[name] = idx
		}
	}
	walk(t, nil)
	for k := range fs.index {
		fs.names = append(fs.names, k)
	}
	sort.Strings(fs.names)
	fieldCache.Store(t, fs)
	return fs
}
