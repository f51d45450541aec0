package policy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sync"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"gopkg.in/yaml.v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// maxRegexp bounds an identity's regular expression: RE2 runs in linear
// time, but the compiled program's size follows the text.
const maxRegexp = 1024

// maxTrustedRoot bounds a trusted root JSON (the public-good one is about
// 10 KB; a few dozen certificate authorities and logs fit easily).
const maxTrustedRoot = 1 << 20

// identity is one keyless signer a rule accepts: the OIDC issuer recorded
// in the certificate and its subject (an email, a URI such as a CI
// workflow), each exact or a regular expression matching the whole value.
type identity struct {
	rule
	id   verify.CertificateIdentity
	text string
}

func (d *decoder) identity(n *yaml.Node, path string) (identity, bool) {
	var issuer, issuerRE, subject, subjectRE string
	for _, f := range d.fields(n, path, "issuer", "issuerRegExp", "subject", "subjectRegExp") {
		v, ok := d.str(f.v, f.path)
		if !ok {
			continue
		}
		switch f.key {
		case "issuer":
			issuer = v
		case "issuerRegExp":
			issuerRE = d.wholeRegexp(f.v, f.path, v)
		case "subject":
			subject = v
		case "subjectRegExp":
			subjectRE = d.wholeRegexp(f.v, f.path, v)
		}
	}
	if n.Kind != yaml.MappingNode {
		return identity{}, false
	}
	if (issuer == "") == (issuerRE == "") {
		d.errorf(n, yamlnode.JoinPath(path, "issuer"), "required: exactly one of issuer or issuerRegExp (the OIDC issuer in the certificate)")
		return identity{}, false
	}
	if (subject == "") == (subjectRE == "") {
		d.errorf(n, yamlnode.JoinPath(path, "subject"), "required: exactly one of subject or subjectRegExp (the certificate's email or URI)")
		return identity{}, false
	}
	id, err := verify.NewShortCertificateIdentity(issuer, issuerRE, subject, subjectRE)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return identity{}, false
	}
	return identity{rule: at(n, path), id: id, text: identityText(issuer, issuerRE, subject, subjectRE)}, true
}

func identityText(issuer, issuerRE, subject, subjectRE string) string {
	is, su := fmt.Sprintf("%q", issuer), fmt.Sprintf("%q", subject)
	if issuerRE != "" {
		is = "/" + issuerRE + "/"
	}
	if subjectRE != "" {
		su = "/" + subjectRE + "/"
	}
	return "issuer " + is + ", subject " + su
}

// wholeRegexp compiles s anchored at both ends: sigstore matches a
// regular expression anywhere in the value, so `acme` would accept
// `evil-acme.example`. An operator writes what the whole value must be.
func (d *decoder) wholeRegexp(n *yaml.Node, path, s string) string {
	if len(s) > maxRegexp {
		d.errorf(n, path, "the regular expression is %d bytes, at most %d", len(s), maxRegexp)
		return ""
	}
	anchored := "^(?:" + s + ")$"
	if _, err := regexp.Compile(anchored); err != nil {
		d.errorf(n, path, "not a regular expression: %v", err)
		return ""
	}
	return anchored
}

// tlogMode reads transparencyLog: required (a bundle without a log entry
// is refused) or optional (entries are checked when present).
func (d *decoder) tlogMode(n *yaml.Node, path string) bool {
	v, ok := d.str(n, path)
	if !ok {
		return true
	}
	switch v {
	case "required":
		return true
	case "optional":
		return false
	}
	d.errorf(n, path, "must be required or optional (got %q)", v)
	return true
}

// trustSource is where a rule's trusted root comes from: a file the
// operator mounts (read when the policy is loaded), a ConfigMap (read when
// a verification needs it), or a TUF repository the operator names (its
// mirror, with the initial root.json from a file).
type trustSource struct {
	rule
	file      string
	configMap *ConfigMapRef
	tufMirror string
	tufRoot   []byte

	mu       sync.Mutex
	material root.TrustedMaterial
}

// ConfigMapRef names a key of a ConfigMap.
type ConfigMapRef struct {
	Namespace, Name, Key string
}

func (d *decoder) trustedRoot(n *yaml.Node, path string) *trustSource {
	t := &trustSource{rule: at(n, path)}
	sources := 0
	for _, f := range d.fields(n, path, "file", "configMap", "tuf") {
		sources++
		switch f.key {
		case "file":
			if v, ok := d.str(f.v, f.path); ok {
				t.file = v
				t.material = d.rootFile(f.v, f.path, v)
			}
		case "configMap":
			t.configMap = d.configMapRef(f.v, f.path)
		case "tuf":
			d.tufSource(t, f.v, f.path)
		}
	}
	if n.Kind == yaml.MappingNode && sources != 1 {
		d.errorf(n, path, "exactly one of file, configMap or tuf is required (got %d)", sources)
	}
	return t
}

// rootFile reads a trusted root JSON when the policy is loaded, so a
// missing or malformed file stops the function from starting rather than
// refusing every signed image later.
func (d *decoder) rootFile(n *yaml.Node, path, file string) root.TrustedMaterial {
	data, err := readBounded(file, maxTrustedRoot)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return nil
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		d.errorf(n, path, "%s is not a sigstore trusted root: %v", file, err)
		return nil
	}
	return tr
}

func (d *decoder) configMapRef(n *yaml.Node, path string) *ConfigMapRef {
	ref := &ConfigMapRef{Key: "trusted_root.json"}
	for _, f := range d.fields(n, path, "namespace", "name", "key") {
		v, ok := d.str(f.v, f.path)
		if !ok {
			continue
		}
		switch f.key {
		case "namespace":
			ref.Namespace = v
		case "name":
			ref.Name = v
		case "key":
			ref.Key = v
		}
	}
	if n.Kind == yaml.MappingNode && ref.Name == "" {
		d.errorf(n, yamlnode.JoinPath(path, "name"), "required: the ConfigMap's name")
	}
	return ref
}

func (d *decoder) tufSource(t *trustSource, n *yaml.Node, path string) {
	var rootFile string
	for _, f := range d.fields(n, path, "mirror", "root") {
		v, ok := d.str(f.v, f.path)
		if !ok {
			continue
		}
		if f.key == "mirror" {
			t.tufMirror = v
			continue
		}
		rootFile = v
		data, err := readBounded(v, maxTrustedRoot)
		if err != nil {
			d.errorf(f.v, f.path, "%v", err)
			continue
		}
		t.tufRoot = data
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	if t.tufMirror == "" {
		d.errorf(n, yamlnode.JoinPath(path, "mirror"), "required: the URL of the TUF repository to fetch the trusted root from")
	}
	if rootFile == "" {
		d.errorf(n, yamlnode.JoinPath(path, "root"), "required: the file holding the TUF repository's initial root.json")
	}
}

func readBounded(file string, limit int64) ([]byte, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, at most %d", file, fi.Size(), limit)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return data, nil
}

// ConfigMapReader reads a ConfigMap's data. An empty namespace is the
// reader's own (the function's namespace).
type ConfigMapReader interface {
	ConfigMapData(ctx context.Context, namespace, name string) (map[string]string, error)
}

// load returns the trusted material, reading a ConfigMap or the TUF
// mirror when the source is one. A ConfigMap is read on every call (only
// verifications the cache misses call it), so a rotated root takes
// effect without a restart; a TUF root is kept, refreshed by sigstore-go.
func (t *trustSource) load(ctx context.Context, cms ConfigMapReader) (root.TrustedMaterial, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.material != nil && t.configMap == nil:
		return t.material, nil
	case t.configMap != nil:
		return t.fromConfigMap(ctx, cms)
	case t.tufMirror != "":
		// Bounded like a registry call; not the event's context, which
		// sigstore-go would keep for its daily refreshes.
		f := fetcher.NewDefaultFetcher()
		f.SetHTTPClient(&http.Client{Timeout: registryTimeout})
		opts := tuf.DefaultOptions().WithRoot(t.tufRoot).WithRepositoryBaseURL(t.tufMirror).WithDisableLocalCache().WithFetcher(f)
		tr, err := root.NewLiveTrustedRoot(opts)
		if err != nil {
			return nil, fmt.Errorf("fetching the trusted root from the TUF mirror %s: %w: %w", t.tufMirror, ErrUnavailable, err)
		}
		t.material = tr
		return tr, nil
	}
	return nil, errUnsigned{"the rule's trusted root could not be read when the policy was loaded"}
}

func (t *trustSource) fromConfigMap(ctx context.Context, cms ConfigMapReader) (root.TrustedMaterial, error) {
	ref := *t.configMap
	if cms == nil {
		// jobctl: no cluster to read it from; the image is left unchecked.
		return nil, fmt.Errorf("the trusted root is in ConfigMap %s/%s, which cannot be read here: %w: %w", ref.Namespace, ref.Name, ErrUnavailable, ErrNotChecked)
	}
	data, err := cms.ConfigMapData(ctx, ref.Namespace, ref.Name)
	if err != nil {
		return nil, kubeErr(fmt.Sprintf("reading the trusted root from ConfigMap %s/%s", ref.Namespace, ref.Name), err)
	}
	js, ok := data[ref.Key]
	if !ok {
		return nil, errUnsigned{fmt.Sprintf("ConfigMap %s/%s has no key %q (the trusted root JSON)", ref.Namespace, ref.Name, ref.Key)}
	}
	if len(js) > maxTrustedRoot {
		return nil, errUnsigned{fmt.Sprintf("ConfigMap %s/%s key %q is %d bytes, at most %d", ref.Namespace, ref.Name, ref.Key, len(js), maxTrustedRoot)}
	}
	tr, err := root.NewTrustedRootFromJSON([]byte(js))
	if err != nil {
		return nil, errUnsigned{fmt.Sprintf("ConfigMap %s/%s key %q is not a sigstore trusted root: %v", ref.Namespace, ref.Name, ref.Key, err)}
	}
	return tr, nil
}

// kubeErr sorts a failure to read the operator's ConfigMap: missing or
// forbidden is the operator's to fix and refuses; anything else is the API
// server's trouble and is retried.
func kubeErr(what string, err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return errUnsigned{fmt.Sprintf("%s: %v", what, err)}
	}
	return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
}
