package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// APIVersion is the policy file format this package reads.
const APIVersion = "v1"

// MaxBytes bounds a policy file.
const MaxBytes = 1 << 20

// Load reads and parses the policy file at path.
func Load(path string, opts ...Option) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return Parse(path, data, opts...)
}

// Parse reads a policy. Every problem is reported, each with file, line and
// field path, as a jobconfig.ErrorList. A policy that does not parse must stop
// the function from starting: running with half a policy would be running
// without one.
func Parse(file string, data []byte, opts ...Option) (p *Policy, err error) {
	d := &decoder{file: file}
	defer func() {
		// yaml.v3 is fed the operator's file; a panic in it must be an
		// error, as FuzzParse checks.
		if r := recover(); r != nil {
			p, err = nil, jobconfig.ErrorList{{File: file, Line: 1, Message: fmt.Sprintf("internal error: %v", r)}}
		}
	}()
	if len(data) > MaxBytes {
		return nil, jobconfig.ErrorList{{File: file, Line: 1, Message: fmt.Sprintf("policy is %d bytes, at most %d", len(data), MaxBytes)}}
	}
	p = Default()
	p.file = file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		d.errorf(nil, "", "the policy is empty: apiVersion must be %s", APIVersion)
	case err != nil:
		line, msg := yamlnode.SyntaxError(err)
		d.errs = append(d.errs, &jobconfig.FieldError{File: file, Line: line, Message: "invalid YAML: " + msg})
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			d.errorf(&extra, "", "only one YAML document is allowed")
		} else {
			d.policy(p, doc.Content[0])
		}
	}
	for _, o := range opts {
		o(p)
	}
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return p, nil
}

var topKeys = []string{"apiVersion", "images", "plugins", "pluginsOnly", "namespaces", "serviceAccounts", "secrets", "pods", "resources", "limits"}

func (d *decoder) policy(p *Policy, root *yaml.Node) {
	if yamlnode.IsNull(root) {
		d.errorf(root, "", "the policy is empty: apiVersion must be %s", APIVersion)
		return
	}
	var plugins *field
	version := false
	for _, f := range d.fields(root, "", topKeys...) {
		switch f.key {
		case "apiVersion":
			version = true
			if v, ok := d.str(f.v, f.path); ok && v != APIVersion {
				d.errorf(f.v, f.path, "%q is not supported, use %s", v, APIVersion)
			}
		case "images":
			d.images(&p.images, f.v, f.path)
		case "plugins":
			plugins = &f
		case "pluginsOnly":
			p.pluginsOnly = d.boolean(f.v, f.path)
		case "namespaces":
			d.notNull(f.v, f.path)
			p.namespaces = d.names(f.v, f.path, validation.IsDNS1123Label)
		case "serviceAccounts":
			d.notNull(f.v, f.path)
			p.accounts = d.names(f.v, f.path, validation.IsDNS1123Subdomain)
		case "secrets":
			for _, s := range d.fields(f.v, f.path, "requireLabel") {
				p.secretLabel = d.labelRule(s.v, s.path)
			}
		case "pods":
			for _, s := range d.fields(f.v, f.path, "allowNetBindService", "allowControlPlane") {
				switch s.key {
				case "allowNetBindService":
					p.allowNetBindService = d.boolean(s.v, s.path)
				case "allowControlPlane":
					p.allowControlPlane = d.boolean(s.v, s.path)
				}
			}
		case "resources":
			d.resources(&p.resources, f.v, f.path)
		case "limits":
			d.limits(&p.limits, f.v, f.path)
		}
	}
	if !version && root.Kind == yaml.MappingNode {
		d.errorf(root, "apiVersion", "required: apiVersion: %s", APIVersion)
	}
	// Plugins last: whether a plugin task may set env depends on
	// pluginsOnly, wherever that is written.
	if plugins != nil {
		d.plugins(p, plugins.v, plugins.path)
	}
	if p.pluginsOnly && len(p.plugins) == 0 && plugins == nil {
		d.errorf(root, "pluginsOnly", "no task could run: pluginsOnly needs a plugins catalog")
	}
}

func (d *decoder) images(r *imageRules, n *yaml.Node, path string) {
	for _, f := range d.fields(n, path, "registries", "allow", "deny", "requireDigest", "signatures") {
		switch f.key {
		case "registries":
			// Present but empty allows no registry at all.
			d.notNull(f.v, f.path)
			r.registries, r.registriesAt = []*namedGlob{}, at(f.k, f.path)
			d.list(f.v, f.path, func(c *yaml.Node, p string) {
				s, ok := d.str(c, p)
				if !ok {
					return
				}
				if strings.Contains(s, "/") {
					d.errorf(c, p, "a registry is a host[:port] such as ghcr.io, without a path (got %q); use images.allow for repositories", s)
					return
				}
				g, err := compileGlob(normalizeRegistry(s))
				if err != nil {
					d.errorf(c, p, "%v", err)
					return
				}
				r.registries = append(r.registries, &namedGlob{rule: at(c, p), g: g})
			})
		case "allow", "deny":
			d.notNull(f.v, f.path)
			out := []*namedImagePattern{}
			d.list(f.v, f.path, func(c *yaml.Node, p string) {
				if ip := d.imagePattern(c, p); ip != nil {
					out = append(out, &namedImagePattern{rule: at(c, p), p: ip})
				}
			})
			if f.key == "allow" {
				r.allow, r.allowAt = out, at(f.k, f.path)
			} else {
				r.deny = out
			}
		case "requireDigest":
			r.requireDigest, r.digestAt = d.boolean(f.v, f.path), at(f.k, f.path)
		case "signatures":
			d.list(f.v, f.path, func(c *yaml.Node, p string) {
				if s := d.signatureRule(c, p); s != nil {
					r.signatures = append(r.signatures, s)
				}
			})
		}
	}
}

func (d *decoder) imagePattern(n *yaml.Node, path string) *imagePattern {
	s, ok := d.str(n, path)
	if !ok {
		return nil
	}
	ip, err := compileImagePattern(s)
	if err != nil {
		d.errorf(n, path, "not an image pattern: %v", err)
		return nil
	}
	return ip
}

func (d *decoder) signatureRule(n *yaml.Node, path string) *SignatureRule {
	s := &SignatureRule{rule: at(n, path), Name: path, matchIdentity: true}
	errsBefore := len(d.errs)
	var haveImages, haveKeys, haveIDs, haveTlog bool
	for _, f := range d.fields(n, path, "name", "images", "keys", "identities", "trustedRoot", "transparencyLog", "matchIdentity") {
		switch f.key {
		case "name":
			if v, ok := d.str(f.v, f.path); ok && v != "" {
				s.Name = v
			}
		case "images":
			haveImages = true
			d.list(f.v, f.path, func(c *yaml.Node, p string) {
				if ip := d.imagePattern(c, p); ip != nil {
					s.images = append(s.images, ip)
				}
			})
		case "keys":
			haveKeys = true
			d.keys(s, f.v, f.path)
		case "identities":
			haveIDs = true
			d.list(f.v, f.path, func(c *yaml.Node, p string) {
				if id, ok := d.identity(c, p); ok {
					s.identities = append(s.identities, id)
				}
			})
		case "trustedRoot":
			s.trust = d.trustedRoot(f.v, f.path)
		case "transparencyLog":
			haveTlog = true
			s.requireTlog = d.tlogMode(f.v, f.path)
		case "matchIdentity":
			s.matchIdentity = d.boolean(f.v, f.path)
		}
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if !haveTlog {
		// A certificate is short-lived: without a log entry nothing says
		// when it signed. A key pair's signature stands on the key alone.
		s.requireTlog = haveIDs
	}
	d.signerRequired(s, n, path, len(d.errs) == errsBefore, haveImages, haveKeys, haveIDs)
	return s
}

// signerRequired refuses a rule that covers nothing or that nobody could
// satisfy. An empty list is refused like a missing one: a rule with no key
// could never be met, and one with no images would cover nothing, and both
// look like a rule in force.
func (d *decoder) signerRequired(s *SignatureRule, n *yaml.Node, path string, clean, haveImages, haveKeys, haveIDs bool) {
	if !haveImages || len(s.images) == 0 && clean {
		d.errorf(n, yamlnode.JoinPath(path, "images"), "required: at least one image pattern this rule covers")
	}
	switch {
	case !haveKeys && !haveIDs:
		d.errorf(n, yamlnode.JoinPath(path, "keys"), "required: at least one PEM public key (cosign.pub), or identities for keyless signatures")
	case haveKeys && len(s.verifier) == 0 && clean:
		d.errorf(n, yamlnode.JoinPath(path, "keys"), "required: at least one PEM public key (cosign.pub)")
	case haveIDs && len(s.identities) == 0 && clean:
		d.errorf(n, yamlnode.JoinPath(path, "identities"), "required: at least one identity (issuer and subject)")
	case haveIDs && s.trust == nil && clean:
		d.errorf(n, yamlnode.JoinPath(path, "trustedRoot"), "required with identities: the trusted root that names the certificate authority (file, configMap or tuf)")
	}
}

func (d *decoder) keys(s *SignatureRule, n *yaml.Node, path string) {
	d.list(n, path, func(c *yaml.Node, p string) {
		pem, ok := d.str(c, p)
		if !ok {
			return
		}
		v, err := loadVerifier([]byte(pem))
		if err != nil {
			d.errorf(c, p, "%v", err)
			return
		}
		s.verifier = append(s.verifier, v)
	})
}

// names reads a list of name patterns (namespaces, service accounts):
// names, or globs where `*` stands for any characters.
func (d *decoder) names(n *yaml.Node, path string, valid func(string) []string) []*namedGlob {
	out := []*namedGlob{}
	d.list(n, path, func(c *yaml.Node, p string) {
		s, ok := d.str(c, p)
		if !ok {
			return
		}
		if !strings.Contains(s, "*") {
			if msgs := valid(s); len(msgs) > 0 {
				d.errorf(c, p, "not a valid name %q: %s", s, strings.Join(msgs, "; "))
				return
			}
		}
		g, err := compileGlob(s)
		if err != nil {
			d.errorf(c, p, "%v", err)
			return
		}
		out = append(out, &namedGlob{rule: at(c, p), g: g})
	})
	return out
}

// labelRule reads "key=value" (or "key", meaning key=true).
func (d *decoder) labelRule(n *yaml.Node, path string) *labelRule {
	s, ok := d.str(n, path)
	if !ok {
		return nil
	}
	k, v, found := strings.Cut(s, "=")
	if !found {
		v = "true"
	}
	if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
		d.errorf(n, path, "not a label key %q: %s", k, strings.Join(msgs, "; "))
		return nil
	}
	if v == "" {
		d.errorf(n, path, "the label value must not be empty (write key=value, or key alone for key=true)")
		return nil
	}
	if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
		d.errorf(n, path, "not a label value %q: %s", v, strings.Join(msgs, "; "))
		return nil
	}
	return &labelRule{rule: at(n, path), Key: k, Value: v}
}

func (d *decoder) resources(r *resourceRules, n *yaml.Node, path string) {
	for _, f := range d.fields(n, path, "defaults", "max", "maxWorkspace") {
		switch f.key {
		case "defaults":
			req := &corev1.ResourceRequirements{}
			for _, g := range d.fields(f.v, f.path, "requests", "limits") {
				list := d.resourceList(g.v, g.path)
				if g.key == "requests" {
					req.Requests = list
				} else {
					req.Limits = list
				}
			}
			for name, q := range req.Requests {
				if l, ok := req.Limits[name]; ok && q.Cmp(l) > 0 {
					d.errorf(f.v, f.path+".requests."+string(name), "%s is more than limits.%s (%s)", q.String(), name, l.String())
				}
			}
			r.defaults = req
		case "max":
			r.max, r.maxAt = d.resourceList(f.v, f.path), at(f.k, f.path)
		case "maxWorkspace":
			if q, ok := d.quantity(f.v, f.path); ok {
				r.maxWorkspace = &q
			}
		}
	}
	if r.defaults == nil || r.max == nil {
		return
	}
	for _, list := range []corev1.ResourceList{r.defaults.Requests, r.defaults.Limits} {
		for name, q := range list {
			if m, ok := r.max[name]; ok && q.Cmp(m) > 0 {
				d.errorf(n, path+".defaults", "the default %s %s is above max.%s (%s)", name, q.String(), name, m.String())
			}
		}
	}
}

func (d *decoder) resourceList(n *yaml.Node, path string) corev1.ResourceList {
	list := corev1.ResourceList{}
	for _, f := range d.fields(n, path) {
		name := corev1.ResourceName(f.key)
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		default:
			if !strings.Contains(f.key, "/") || len(validation.IsQualifiedName(f.key)) > 0 {
				d.errorf(f.k, f.path, "unknown resource (want cpu, memory, ephemeral-storage or a domain-prefixed extended resource)")
				continue
			}
		}
		if q, ok := d.quantity(f.v, f.path); ok {
			list[name] = q
		}
	}
	return list
}

func (d *decoder) quantity(n *yaml.Node, path string) (resource.Quantity, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() < 0 {
		d.errorf(n, path, "must be a quantity such as 500m, 1, 128Mi or 1Gi (got %s)", yamlnode.Describe(n))
		return resource.Quantity{}, false
	}
	return q, true
}

func (d *decoder) limits(l *Limits, n *yaml.Node, path string) {
	for _, f := range d.fields(n, path, "configBytes", "actions", "eventsPerAction", "tasksPerAction", "envPerTask", "filesPerTask", "eventBytes") {
		v := d.positive(f.v, f.path)
		switch f.key {
		case "configBytes":
			l.ConfigBytes = v
		case "actions":
			l.Actions = v
		case "eventsPerAction":
			l.EventsPerAction = v
		case "tasksPerAction":
			l.TasksPerAction = v
		case "envPerTask":
			l.EnvPerTask = v
		case "filesPerTask":
			l.FilesPerTask = v
		case "eventBytes":
			l.EventBytes, l.eventBytesAt = v, at(f.k, f.path)
		}
	}
}
