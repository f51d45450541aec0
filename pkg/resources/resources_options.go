package resources

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
)

// ClientOption configures NewResourceClient.
type ClientOption func(*clientConfig) error

type clientConfig struct {
	token            string
	httpClient       *http.Client
	transport        http.RoundTripper
	caPEM            []byte
	caSource         string // file name or "PEM option", for error messages
	insecure         bool
	timeout          time.Duration
	escaping         Escaping
	maxResponseBytes int64
}

const (
	defaultTimeout          = 30 * time.Second
	defaultMaxResponseBytes = 16 << 20
)

// WithToken sends token as the x-token header. It never appears in errors,
// logs or the client's String form.
func WithToken(token string) ClientOption {
	return func(c *clientConfig) error {
		for _, r := range token {
			if unicode.IsControl(r) {
				// Do not echo the token, not even in part.
				return errors.New("keptn API token contains control characters (a trailing newline in the Secret?)")
			}
		}
		c.token = token
		return nil
	}
}

// WithHTTPClient uses hc for all requests. It cannot be combined with the
// TLS options or WithTransport: hc's transport is then the caller's business.
// If hc follows redirects by default, the copy the client keeps refuses them,
// because Go forwards custom headers such as x-token to the redirect target.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *clientConfig) error {
		if hc == nil {
			return errors.New("WithHTTPClient: nil client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithTransport uses rt under the client's own http.Client. It cannot be
// combined with the TLS options.
func WithTransport(rt http.RoundTripper) ClientOption {
	return func(c *clientConfig) error {
		if rt == nil {
			return errors.New("WithTransport: nil transport")
		}
		c.transport = rt
		return nil
	}
}

// WithCAFile trusts the PEM certificates in path INSTEAD of the system roots
// (a private Keptn CA). Verification stays on.
func WithCAFile(path string) ClientOption {
	return func(c *clientConfig) error {
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading Keptn CA file: %w", err)
		}
		c.caPEM, c.caSource = pem, path
		return nil
	}
}

// WithCAPEM is WithCAFile with the PEM bytes given directly.
func WithCAPEM(pem []byte) ClientOption {
	return func(c *clientConfig) error {
		c.caPEM, c.caSource = pem, "the CA PEM option"
		return nil
	}
}

// WithInsecureSkipVerify turns TLS certificate verification OFF for this
// client only (never process-wide). It is an explicit opt-out for test
// installations with self-signed certificates: anyone on the path can then
// read the token and forge configs.
func WithInsecureSkipVerify() ClientOption {
	return func(c *clientConfig) error {
		c.insecure = true
		return nil
	}
}

// WithTimeout bounds every single HTTP request (default 30s); the caller's
// context still bounds the whole operation.
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return fmt.Errorf("WithTimeout: %v is not positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithEscaping overrides how resource URIs are escaped (default EscapeAuto,
// see there).
func WithEscaping(e Escaping) ClientOption {
	return func(c *clientConfig) error {
		c.escaping = e
		return nil
	}
}

// WithMaxResponseBytes bounds every response body (default 16 MiB). A resource
// is sent base64-encoded inside JSON, so this is about 4/3 of the largest file.
func WithMaxResponseBytes(n int64) ClientOption {
	return func(c *clientConfig) error {
		if n <= 0 {
			return fmt.Errorf("WithMaxResponseBytes: %d is not positive", n)
		}
		c.maxResponseBytes = n
		return nil
	}
}

func (c *clientConfig) check() error {
	tlsOpts := c.caPEM != nil || c.insecure
	switch {
	case c.caPEM != nil && c.insecure:
		return errors.New("a custom CA and InsecureSkipVerify contradict each other; choose one")
	case tlsOpts && (c.httpClient != nil || c.transport != nil):
		return errors.New("TLS options (CA, InsecureSkipVerify) cannot be combined with a caller's HTTP client or transport; configure TLS there")
	case c.httpClient != nil && c.transport != nil:
		return errors.New("WithHTTPClient and WithTransport are exclusive")
	}
	return nil
}

// redact removes the token from text that came from outside (server
// messages), in case a proxy echoes request headers.
func (c *clientConfig) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}
