package jobconfig

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// The checks below are the ones the apiserver applies to a pod spec's
// tolerations and affinity (k8s.io/kubernetes pkg/apis/core/validation),
// repeated here because that package is not a library: a config that passes
// them produces a Job the apiserver accepts.

func (d *decoder) tolerations(n *yaml.Node, path string) []corev1.Toleration {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return nil
	}
	var out []corev1.Toleration
	before := len(d.errs)
	d.into(n, path, reflect.ValueOf(&out).Elem())
	if len(d.errs) > before {
		return nil
	}
	for i, t := range out {
		tp := fmt.Sprintf("%s[%d]", path, i)
		at := func(field string) string { return yamlnode.JoinPath(tp, field) }
		if t.Key != "" {
			if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
				d.errorfPath(n, at("key"), "not a valid taint key: %s", strings.Join(msgs, "; "))
			}
		} else if t.Operator != corev1.TolerationOpExists {
			d.errorfPath(n, at("operator"), "must be Exists when key is empty (got %q)", t.Operator)
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
				d.errorfPath(n, at("value"), "not a valid taint value: %s", strings.Join(msgs, "; "))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				d.errorfPath(n, at("value"), "must be empty when operator is Exists")
			}
		default:
			d.errorfPath(n, at("operator"), "must be one of Equal, Exists (got %q)", t.Operator)
		}
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			d.errorfPath(n, at("effect"), "must be one of NoSchedule, PreferNoSchedule, NoExecute (got %q)", t.Effect)
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			d.errorfPath(n, at("tolerationSeconds"), "only allowed with effect NoExecute")
		}
	}
	return out
}

func (d *decoder) affinity(n *yaml.Node, path string) *corev1.Affinity {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return nil
	}
	var a *corev1.Affinity
	before := len(d.errs)
	d.into(n, path, reflect.ValueOf(&a).Elem())
	if len(d.errs) > before || a == nil {
		return nil
	}
	if na := a.NodeAffinity; na != nil {
		p := path + ".nodeAffinity"
		if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			rp := p + ".requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
			if len(r.NodeSelectorTerms) == 0 {
				d.errorfPath(n, rp, "must have at least one term")
			}
			for i, term := range r.NodeSelectorTerms {
				d.nodeSelectorTerm(n, term, fmt.Sprintf("%s[%d]", rp, i))
			}
		}
		for i, w := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			wp := fmt.Sprintf("%s.preferredDuringSchedulingIgnoredDuringExecution[%d]", p, i)
			d.weight(n, w.Weight, wp)
			d.nodeSelectorTerm(n, w.Preference, wp+".preference")
		}
	}
	if pa := a.PodAffinity; pa != nil {
		d.podAffinity(n, pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, path+".podAffinity")
	}
	if pa := a.PodAntiAffinity; pa != nil {
		d.podAffinity(n, pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, path+".podAntiAffinity")
	}
	return a
}

func (d *decoder) weight(n *yaml.Node, w int32, path string) {
	if w < 1 || w > 100 {
		d.errorfPath(n, path+".weight", "must be between 1 and 100 (got %d)", w)
	}
}

func (d *decoder) nodeSelectorTerm(n *yaml.Node, term corev1.NodeSelectorTerm, path string) {
	for i, r := range term.MatchExpressions {
		rp := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
		if msgs := validation.IsQualifiedName(r.Key); len(msgs) > 0 {
			d.errorfPath(n, rp+".key", "not a valid label key: %s", strings.Join(msgs, "; "))
		}
		switch r.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
			if len(r.Values) == 0 {
				d.errorfPath(n, rp+".values", "must not be empty with operator %s", r.Operator)
			}
		case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				d.errorfPath(n, rp+".values", "must be empty with operator %s", r.Operator)
			}
		case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
			if len(r.Values) != 1 {
				d.errorfPath(n, rp+".values", "must have exactly one value with operator %s", r.Operator)
			} else if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
				d.errorfPath(n, rp+".values[0]", "must be an integer with operator %s (got %q)", r.Operator, r.Values[0])
			}
		default:
			d.errorfPath(n, rp+".operator", "must be one of In, NotIn, Exists, DoesNotExist, Gt, Lt (got %q)", r.Operator)
		}
	}
	for i, r := range term.MatchFields {
		rp := fmt.Sprintf("%s.matchFields[%d]", path, i)
		if r.Key != "metadata.name" {
			d.errorfPath(n, rp+".key", "must be metadata.name (got %q)", r.Key)
		}
		if r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn {
			d.errorfPath(n, rp+".operator", "must be one of In, NotIn (got %q)", r.Operator)
		} else if len(r.Values) != 1 {
			d.errorfPath(n, rp+".values", "must have exactly one value")
		}
	}
}

func (d *decoder) podAffinity(n *yaml.Node, required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm, path string) {
	for i, t := range required {
		d.podAffinityTerm(n, t, fmt.Sprintf("%s.requiredDuringSchedulingIgnoredDuringExecution[%d]", path, i))
	}
	for i, w := range preferred {
		wp := fmt.Sprintf("%s.preferredDuringSchedulingIgnoredDuringExecution[%d]", path, i)
		d.weight(n, w.Weight, wp)
		d.podAffinityTerm(n, w.PodAffinityTerm, wp+".podAffinityTerm")
	}
}

func (d *decoder) podAffinityTerm(n *yaml.Node, t corev1.PodAffinityTerm, path string) {
	if t.TopologyKey == "" {
		d.errorfPath(n, path+".topologyKey", "required: a node label key such as kubernetes.io/hostname")
	} else if msgs := validation.IsQualifiedName(t.TopologyKey); len(msgs) > 0 {
		d.errorfPath(n, path+".topologyKey", "not a valid label key: %s", strings.Join(msgs, "; "))
	}
	for i, ns := range t.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			d.errorfPath(n, fmt.Sprintf("%s.namespaces[%d]", path, i), "not a valid namespace name: %s", strings.Join(msgs, "; "))
		}
	}
	d.labelSelector(n, t.LabelSelector, path+".labelSelector")
	d.labelSelector(n, t.NamespaceSelector, path+".namespaceSelector")
}

func (d *decoder) labelSelector(n *yaml.Node, s *metav1.LabelSelector, path string) {
	if s == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		v := s.MatchLabels[k]
		kp := fmt.Sprintf("%s.matchLabels[%q]", path, k)
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			d.errorfPath(n, kp, "not a valid label key: %s", strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			d.errorfPath(n, kp, "not a valid label value: %s", strings.Join(msgs, "; "))
		}
	}
	for i, r := range s.MatchExpressions {
		rp := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
		if msgs := validation.IsQualifiedName(r.Key); len(msgs) > 0 {
			d.errorfPath(n, rp+".key", "not a valid label key: %s", strings.Join(msgs, "; "))
		}
		switch r.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				d.errorfPath(n, rp+".values", "must not be empty with operator %s", r.Operator)
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				d.errorfPath(n, rp+".values", "must be empty with operator %s", r.Operator)
			}
		default:
			d.errorfPath(n, rp+".operator", "must be one of In, NotIn, Exists, DoesNotExist (got %q)", r.Operator)
		}
	}
}
