package jobconfig

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// Kubernetes' own validators are used so that what parses here is what the
// apiserver will accept, and the messages are the ones kubectl users know.

func (d *decoder) dnsLabel(n *yaml.Node, path, s string) bool {
	if msgs := validation.IsDNS1123Label(s); len(msgs) > 0 {
		d.errorf(n, path, "not a valid namespace name: %s (got %q)", strings.Join(msgs, "; "), s)
		return false
	}
	return true
}

func (d *decoder) dnsSubdomain(n *yaml.Node, path, s string) bool {
	if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
		d.errorf(n, path, "not a valid name: %s (got %q)", strings.Join(msgs, "; "), s)
		return false
	}
	return true
}

// annotations reads a key: value mapping. JES's documentation showed a list
// of one-key mappings, which JES itself rejected; say so plainly.
func (d *decoder) annotations(n *yaml.Node, path string) []entry {
	if r := yamlnode.Resolve(n); r != nil && r.Kind == yaml.SequenceNode {
		d.errorf(r, path, "must be a mapping of key: value, not a list (write `annotations: {key: value}`)")
		return nil
	}
	entries, _ := d.strMap(n, path, " of key: value")
	out := entries[:0]
	size := 0
	for _, e := range entries {
		// Annotation keys are case-insensitive qualified names, as in
		// apimachinery's ValidateAnnotations.
		if msgs := validation.IsQualifiedName(strings.ToLower(e.key)); len(msgs) > 0 {
			d.errorf(e.k, e.path, "not a valid annotation key: %s", strings.Join(msgs, "; "))
			continue
		}
		if ReservedAnnotation(e.key) {
			d.errorf(e.k, e.path, "the %s prefix is reserved: the function reports on its Jobs through these annotations", ReservedDomain)
			continue
		}
		size += len(e.key) + len(e.value)
		out = append(out, e)
	}
	if size > apivalidation.TotalAnnotationSizeLimitB {
		d.errorf(yamlnode.Resolve(n), path, "annotations total %d bytes, at most %d", size, apivalidation.TotalAnnotationSizeLimitB)
		return nil
	}
	return out
}

// imagePullSecrets reads Secret names, written as names or, as in a pod
// spec, as {name: ...}.
func (d *decoder) imagePullSecrets(n *yaml.Node, path string) []string {
	seq, ok := d.sequence(n, path)
	if !ok || seq == nil {
		return nil
	}
	var out []string
	for i, item := range seq.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		item = yamlnode.Resolve(item)
		var name string
		var at *yaml.Node
		switch item.Kind {
		case yaml.MappingNode:
			for _, p := range d.pairs(item, ip) {
				if p.key != "name" {
					d.unknown(p, yamlnode.JoinPath(ip, p.key), []string{"name"})
					continue
				}
				at = yamlnode.Resolve(p.v)
				name, _ = d.str(p.v, yamlnode.JoinPath(ip, "name"))
			}
			if at == nil {
				d.errorf(item, yamlnode.JoinPath(ip, "name"), "required: the Secret's name")
				continue
			}
		case yaml.ScalarNode:
			at = item
			name, _ = d.str(item, ip)
		default:
			d.errorf(item, ip, "must be a Secret name (got %s)", yamlnode.Describe(item))
			continue
		}
		if name == "" {
			d.errorf(at, ip, "must be a Secret name (got %s)", yamlnode.Describe(at))
			continue
		}
		if d.dnsSubdomain(at, ip, name) {
			out = append(out, name)
		}
	}
	return out
}

func (d *decoder) quantity(n *yaml.Node, path string) (resource.Quantity, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	if err != nil || s == "" {
		d.errorf(n, path, "must be a quantity such as 500m, 1, 128Mi or 1Gi (got %s)", yamlnode.Describe(n))
		return resource.Quantity{}, false
	}
	if q.Sign() < 0 {
		d.errorf(n, path, "must not be negative (got %q)", s)
		return resource.Quantity{}, false
	}
	return q, true
}

// workspaceSize is the sizeLimit of the /keptn emptyDir (JES: fixed 20Mi).
func (d *decoder) workspaceSize(n *yaml.Node, path string) string {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return ""
	}
	q, ok := d.quantity(n, path)
	if !ok {
		return ""
	}
	if q.Sign() == 0 {
		d.errorf(n, path, "must be more than 0")
		return ""
	}
	return q.String()
}

func (d *decoder) nodeSelector(n *yaml.Node, path string) map[string]string {
	entries, _ := d.strMap(n, path, " of label: value")
	if len(entries) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, e := range entries {
		if msgs := validation.IsQualifiedName(e.key); len(msgs) > 0 {
			d.errorf(e.k, e.path, "not a valid label key: %s", strings.Join(msgs, "; "))
			continue
		}
		if msgs := validation.IsValidLabelValue(e.value); len(msgs) > 0 {
			d.errorf(e.v, e.path, "not a valid label value: %s (got %q)", strings.Join(msgs, "; "), e.value)
			continue
		}
		out[e.key] = e.value
	}
	return out
}

var (
	resourcesKeys    = map[string]bool{"limits": true, "requests": true}
	standardResource = map[corev1.ResourceName]bool{
		corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceEphemeralStorage: true,
	}
)

// resources reads limits and requests. Present but empty still counts as
// set: JES replaced all defaults as soon as resources: was written.
func (d *decoder) resources(n *yaml.Node, path string) *corev1.ResourceRequirements {
	m, ok := d.mapping(n, path, " with limits and requests")
	if !ok || m == nil {
		return nil
	}
	r := &corev1.ResourceRequirements{}
	nodes := map[string]map[corev1.ResourceName]*yaml.Node{}
	for _, p := range d.pairs(m, path) {
		fp := yamlnode.JoinPath(path, p.key)
		if !resourcesKeys[p.key] {
			d.unknown(p, fp, keysOf(resourcesKeys))
			continue
		}
		list, at := d.resourceList(p.v, fp)
		nodes[p.key] = at
		if p.key == "limits" {
			r.Limits = list
		} else {
			r.Requests = list
		}
	}
	// The apiserver refuses a request above its limit; say it here, where
	// the line is known.
	for name, req := range r.Requests {
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			d.errorf(nodes["requests"][name], fmt.Sprintf("%s.requests.%s", path, name),
				"%s is more than limits.%s (%s)", req.String(), name, lim.String())
		}
	}
	return r
}

func (d *decoder) resourceList(n *yaml.Node, path string) (corev1.ResourceList, map[corev1.ResourceName]*yaml.Node) {
	m, _ := d.mapping(n, path, " of resource: quantity")
	if m == nil {
		return nil, nil
	}
	list := corev1.ResourceList{}
	at := map[corev1.ResourceName]*yaml.Node{}
	for _, p := range d.pairs(m, path) {
		fp := yamlnode.JoinPath(path, p.key)
		name := corev1.ResourceName(p.key)
		// cpu, memory, ephemeral-storage, or an extended resource such as
		// nvidia.com/gpu.
		if !standardResource[name] && (!strings.Contains(p.key, "/") || len(validation.IsQualifiedName(p.key)) > 0) {
			d.errorf(p.k, fp, "unknown resource (want cpu, memory, ephemeral-storage or a domain-prefixed extended resource)")
			continue
		}
		if q, ok := d.quantity(yamlnode.Resolve(p.v), fp); ok {
			list[name] = q
			at[name] = yamlnode.Resolve(p.v)
		}
	}
	return list, at
}
