package policy

import (
	"fmt"
	"strings"
)

// ImageDecision is why an image may not run: the image as normalised and
// the rule that refused it.
type ImageDecision struct {
	Image Image
	// Rule is the policy path of the rule, e.g. "images.deny[0]".
	Rule   string
	Reason string
}

// checkImage applies the static image rules, in this order: deny (a deny
// always wins), registries, allow, requireDigest. fromCatalog marks a plugin
// image: the operator wrote it into the catalog, so it needs no allow or
// registry entry, but deny and signature rules still apply to it.
func (p *Policy) checkImage(ref string, fromCatalog bool) (Image, *ImageDecision) {
	img, err := ParseImage(ref)
	if err != nil {
		return Image{Ref: ref}, &ImageDecision{Image: Image{Ref: ref}, Rule: "image reference", Reason: err.Error()}
	}
	r := &p.images
	for _, d := range r.deny {
		if d.p.match(img) {
			return img, &ImageDecision{Image: img, Rule: p.cite(d.rule), Reason: fmt.Sprintf("it matches the deny pattern %q", d.p.text)}
		}
	}
	if !fromCatalog && r.registries != nil && !anyGlob(r.registries, img.Registry) {
		return img, &ImageDecision{Image: img, Rule: p.cite(r.registriesAt), Reason: fmt.Sprintf("registry %s is not one of %s", img.Registry, orNone(globList(r.registries)))}
	}
	if !fromCatalog && r.allow != nil && !anyImage(r.allow, img) {
		return img, &ImageDecision{Image: img, Rule: p.cite(r.allowAt), Reason: fmt.Sprintf("it matches none of the allowed patterns %s", patternList(r.allow))}
	}
	if r.requireDigest && img.Digest == "" {
		return img, &ImageDecision{Image: img, Rule: p.cite(r.digestAt), Reason: fmt.Sprintf("images must be pinned by digest (%s@sha256:…)", img.Repository)}
	}
	return img, nil
}

// signatureRules are the rules whose patterns match img; every one of them
// must be satisfied.
func (p *Policy) signatureRules(img Image) []*SignatureRule {
	var out []*SignatureRule
	for _, s := range p.images.signatures {
		for _, ip := range s.images {
			if ip.match(img) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func (p *Policy) cite(r rule) string {
	return fmt.Sprintf("%s of %s", r, p.file)
}

func (d *ImageDecision) message() string {
	shown := fmt.Sprintf("%q", d.Image.Ref)
	if d.Image.Repository != "" && d.Image.String() != d.Image.Ref {
		shown += " (" + d.Image.String() + ")"
	}
	return fmt.Sprintf("image %s is refused by the operator's policy, rule %s: %s", shown, d.Rule, d.Reason)
}

func anyGlob(list []*namedGlob, s string) bool {
	for _, g := range list {
		if g.g.match(s) {
			return true
		}
	}
	return false
}

func anyImage(list []*namedImagePattern, img Image) bool {
	for _, ip := range list {
		if ip.p.match(img) {
			return true
		}
	}
	return false
}

func globList(list []*namedGlob) string {
	parts := make([]string, len(list))
	for i, g := range list {
		parts[i] = g.g.text
	}
	return strings.Join(parts, ", ")
}

func patternList(list []*namedImagePattern) string {
	if len(list) == 0 {
		return "(none)"
	}
	parts := make([]string, len(list))
	for i, ip := range list {
		parts[i] = ip.p.text
	}
	return strings.Join(parts, ", ")
}
