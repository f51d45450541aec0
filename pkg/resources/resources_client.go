package resources

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
)

// ResourceClient reads resources from Keptn's resource-service over plain
// net/http. It exists because go-utils' resource handlers either ignore the
// commit option or switch off TLS verification for the whole process.
//
// The base URL is the resource-service root, without "/v1":
// http://resource-service:8080 in the cluster, or
// https://keptn.example.com/api/resource-service through the api-gateway.
// The escaping of the resource URI differs between the two (see Escaping);
// EscapeAuto tells them apart by the "/resource-service" path suffix.
type ResourceClient struct {
	base     string
	escaping Escaping
	hc       *http.Client
	cfg      clientConfig
}

var (
	_ ResourceGetter = (*ResourceClient)(nil)
	_ ResourceLister = (*ResourceClient)(nil)
)

// NewResourceClient checks baseURL and the options. TLS verification is on
// unless WithInsecureSkipVerify is given.
func NewResourceClient(baseURL string, opts ...ClientOption) (*ResourceClient, error) {
	cfg := clientConfig{timeout: defaultTimeout, maxResponseBytes: defaultMaxResponseBytes}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("keptn resource client: %w", err)
		}
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("keptn resource client: %w", err)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Parse quotes the input; it is a URL we refuse anyway, so
		// do not repeat it (it might carry credentials).
		return nil, errors.New("keptn resource client: base URL does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("keptn resource client: base URL scheme %q, want http or https", u.Scheme)
	case u.Host == "":
		return nil, errors.New("keptn resource client: base URL has no host")
	case u.User != nil:
		return nil, errors.New("keptn resource client: base URL must not carry credentials; use the token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("keptn resource client: base URL must not have a query or fragment")
	}
	hc, err := cfg.buildHTTPClient()
	if err != nil {
		return nil, fmt.Errorf("keptn resource client: %w", err)
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	return &ResourceClient{
		base:     u.Scheme + "://" + u.Host + path,
		escaping: cfg.escaping.resolve(u.Path),
		hc:       hc,
		cfg:      cfg,
	}, nil
}

func (c *clientConfig) buildHTTPClient() (*http.Client, error) {
	if c.httpClient != nil {
		hc := *c.httpClient
		if hc.CheckRedirect == nil {
			hc.CheckRedirect = refuseRedirect
		}
		return &hc, nil
	}
	rt := c.transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		tc, err := TLSConfig(c.caPEM, c.caSource, c.insecure)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig = tc
		rt = t
	}
	return &http.Client{Transport: rt, CheckRedirect: refuseRedirect}, nil
}

// TLSConfig is the TLS towards Keptn of every client of ours (resources
// and events): trust caPEM (from caSource, for the error) on top of
// nothing else when given, or skip verification when insecure. Always a
// fresh tls.Config: a Clone of the default transport copies whatever other
// code (go-utils' GetResourceByURI) may have put into the default one.
func TLSConfig(caPEM []byte, caSource string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // documented opt-out
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("no PEM certificate found in %s", caSource)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// refuseRedirect stops at the first redirect: Go would resend x-token to
// wherever it points. The 3xx then surfaces as a StatusError.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// String never includes the token.
func (c *ResourceClient) String() string {
	return fmt.Sprintf("ResourceClient(%s, escaping=%s)", c.base, c.escaping)
}

// GoString never includes the token.
func (c *ResourceClient) GoString() string { return c.String() }

// Escaping is the resolved escaping mode (never EscapeAuto).
func (c *ResourceClient) Escaping() Escaping { return c.escaping }

func (c *ResourceClient) levelURL(s Scope) string {
	var b strings.Builder
	b.WriteString(c.base)
	b.WriteString("/v1/project/")
	b.WriteString(EscapeSegment(s.Project, c.escaping))
	if s.Stage != "" {
		b.WriteString("/stage/")
		b.WriteString(EscapeSegment(s.Stage, c.escaping))
		if s.Service != "" {
			b.WriteString("/service/")
			b.WriteString(EscapeSegment(s.Service, c.escaping))
		}
	}
	b.WriteString("/resource")
	return b.String()
}

type getResourceResponse struct {
	ResourceURI     string `json:"resourceURI"`
	ResourceContent string `json:"resourceContent"`
	Metadata        *struct {
		Version string `json:"version"`
	} `json:"metadata"`
}

// GetResource reads uri at s, at gitCommitID when it is not empty. uri must
// pass CleanURI, so a traversal attempt never reaches the network.
func (c *ResourceClient) GetResource(ctx context.Context, s Scope, uri, gitCommitID string) (*Resource, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	clean, err := CleanURI(uri)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("get resource %q of %s", clean, s)
	u := c.levelURL(s) + "/" + EscapeSegment(clean, c.escaping)
	if gitCommitID != "" {
		op += fmt.Sprintf(" at commit %q", gitCommitID)
		u += "?" + url.Values{"gitCommitID": {gitCommitID}}.Encode()
	}
	var body getResourceResponse
	if err := c.getJSON(ctx, op, u, &body); err != nil {
		return nil, err
	}
	content, err := base64.StdEncoding.DecodeString(body.ResourceContent)
	if err != nil {
		return nil, permanent.New(&StatusError{StatusCode: http.StatusOK, Op: op, Message: "resourceContent is not base64", Err: err})
	}
	r := &Resource{URI: clean, Content: content}
	if body.Metadata != nil {
		r.Version = body.Metadata.Version
	}
	return r, nil
}

type listResourcesResponse struct {
	NextPageKey string `json:"nextPageKey"`
	Resources   []struct {
		ResourceURI string `json:"resourceURI"`
	} `json:"resources"`
}

const maxListPages = 10000

// ListResources returns every resource URI at s (one leading "/" removed,
// otherwise as the server sent it: callers must CleanURI what they use),
// following nextPageKey. Keptn's resource-service lists HEAD whatever the
// commit; gitCommitID is still sent so a server that can honour it does.
func (c *ResourceClient) ListResources(ctx context.Context, s Scope, gitCommitID string) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("list resources of %s", s)
	var out []string
	seen := map[string]bool{}
	next := ""
	for page := 0; ; page++ {
		if page == maxListPages {
			return nil, permanent.New(&StatusError{Op: op, Message: fmt.Sprintf("more than %d pages", maxListPages)})
		}
		q := url.Values{}
		if gitCommitID != "" {
			q.Set("gitCommitID", gitCommitID)
		}
		if next != "" {
			q.Set("nextPageKey", next)
		}
		u := c.levelURL(s)
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		var body listResourcesResponse
		if err := c.getJSON(ctx, op, u, &body); err != nil {
			return nil, err
		}
		for _, r := range body.Resources {
			out = append(out, strings.TrimPrefix(r.ResourceURI, "/"))
		}
		// go-utils stops on "" and on "0" (the old configuration-service's end marker).
		if body.NextPageKey == "" || body.NextPageKey == "0" {
			return out, nil
		}
		if seen[body.NextPageKey] {
			return nil, permanent.New(&StatusError{Op: op, Message: fmt.Sprintf("nextPageKey %q repeats", body.NextPageKey)})
		}
		seen[body.NextPageKey] = true
		next = body.NextPageKey
	}
}

// getJSON performs one GET and classifies the outcome: ErrNotFound,
// *AuthError or *StatusError (all permanent: pkg/permanent), or
// *RetryableError. A TLS failure (an unknown authority, a name mismatch)
// is permanent here: the fetcher stops at once and names it; the function,
// which owes Keptn an answer, still retries the event (docs/design.md,
// "Retry").
func (c *ResourceClient) getJSON(ctx context.Context, op, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return permanent.New(&StatusError{Op: op, Message: "building request", Err: err})
	}
	req.Header.Set("Accept", "application/json")
	if c.cfg.token != "" {
		req.Header.Set("x-token", c.cfg.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if isTLSFailure(err) {
			return permanent.New(&StatusError{Op: op, Message: "TLS: " + err.Error(), Err: err})
		}
		return &RetryableError{Err: fmt.Errorf("%s: %w", op, err)}
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		msg := c.errorMessage(resp.Body)
		switch code := resp.StatusCode; {
		case code == http.StatusNotFound:
			return fmt.Errorf("%s: %w (%s)", op, ErrNotFound, msg)
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return permanent.New(&AuthError{StatusCode: code, Op: op, Message: msg})
		case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
			// Keptn's gateway answers 429 after failed authentications
			// from this address, even to valid requests: back off.
			return &RetryableError{StatusCode: code, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
				Err: fmt.Errorf("%s: HTTP %d from Keptn: %s", op, code, msg)}
		default:
			return permanent.New(&StatusError{StatusCode: code, Op: op, Message: msg})
		}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.maxResponseBytes+1))
	if err != nil {
		return &RetryableError{StatusCode: resp.StatusCode, Err: fmt.Errorf("%s: reading response: %w", op, err)}
	}
	if int64(len(data)) > c.cfg.maxResponseBytes {
		return permanent.New(&StatusError{StatusCode: resp.StatusCode, Op: op, Message: fmt.Sprintf("response larger than %d bytes", c.cfg.maxResponseBytes)})
	}
	if err := json.Unmarshal(data, v); err != nil {
		return permanent.New(&StatusError{StatusCode: resp.StatusCode, Op: op, Message: "response is not the expected JSON", Err: err})
	}
	return nil
}

const maxErrorMessage = 200

// errorMessage extracts Keptn's {"code","message"} (or the start of any
// other body) as one short, token-free line.
func (c *ResourceClient) errorMessage(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, 4096))
	var e struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, c.cfg.redact(msg))
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage] + "..."
	}
	if msg == "" {
		msg = "no message"
	}
	return msg
}

// isTLSFailure separates certificate problems, which retrying cannot fix,
// from transient network errors.
func isTLSFailure(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &rh)
}
