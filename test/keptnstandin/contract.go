package keptnstandin

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// contractDocument is the OpenAPI 3 document of the Keptn endpoints this
// project uses, written by the project (contract/keptn.openapi.yaml). It is
// embedded, so the stand-in needs no file at run time and works from any
// working directory, from go test and from go run.
//
//go:embed contract/keptn.openapi.yaml
var contractDocument []byte

// contract is the OpenAPI document, loaded for openapi3filter, which checks
// requests and responses against it. Keptn's own wire types (wire.go) check
// the bodies a second time.
type contract struct {
	doc *openapi3.T
}

// Violation is one request or response that broke the contract: the OpenAPI
// document, or a body go-utils' types cannot hold.
type Violation struct {
	Time time.Time
	// Side is "request" when a client sent something the contract does not
	// allow, "response" when the stand-in itself answered outside it.
	Side   string
	Method string
	Path   string
	Status int // the status answered; for Side "response" the offending one
	Err    string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s %s -> %d: %s", v.Side, v.Method, v.Path, v.Status, v.Err)
}

// The embedded document is loaded once: validation never writes to it.
var embeddedContract = sync.OnceValues(func() (*contract, error) {
	return loadContract(contractDocument)
})

// loadContract parses and validates an OpenAPI 3 document.
func loadContract(data []byte) (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("parsing the Keptn OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the Keptn OpenAPI document is invalid: %w", err)
	}
	return &contract{doc: doc}, nil
}

// requestInput is a routed request, ready for openapi3filter.
type requestInput = *openapi3filter.RequestValidationInput

// input builds what openapi3filter needs for a routed request. Routing is ours,
// not kin-openapi's: its routers match the decoded path, in which Keptn's
// escaped resourceURI (job%2Fconfig.yaml) would be two segments.
func (c *contract) input(r *http.Request, rt route) (requestInput, error) {
	doc := c.doc
	item := doc.Paths.Value(rt.template)
	if item == nil {
		return nil, fmt.Errorf("path %s is not in the contract", rt.template)
	}
	op := item.GetOperation(r.Method)
	if op == nil {
		return nil, fmt.Errorf("%s %s is not in the contract", r.Method, rt.template)
	}
	opts := &openapi3filter.Options{
		// The stand-in checks x-token itself, before the contract, the way
		// Keptn's api-service authenticates before it binds the body.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// The document lists every status Keptn answers on these routes,
		// so an answer with any other status is a violation.
		IncludeResponseStatus: true,
	}
	opts.WithCustomSchemaErrorFunc(shortSchemaError)
	return &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: rt.pathParams(),
		Route: &routers.Route{
			Spec:      doc,
			Path:      rt.template,
			PathItem:  item,
			Method:    r.Method,
			Operation: op,
		},
		Options: opts,
	}, nil
}

// shortSchemaError names the offending field without kin-openapi's dump of
// the schema and the value, which would flood error bodies and test logs.
func shortSchemaError(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at %q: %s", "/"+strings.Join(err.JSONPointer(), "/"), err.Reason)
}

func (c *contract) validateRequest(ctx context.Context, in requestInput) error {
	return openapi3filter.ValidateRequest(ctx, in)
}

// validateResponse checks an answer of the stand-in against the document:
// a status it does not list, a media type or a body outside it fail.
func (c *contract) validateResponse(ctx context.Context, in requestInput, rep reply) error {
	header := http.Header{}
	if rep.contentType != "" {
		header.Set("Content-Type", rep.contentType)
	}
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 rep.status,
		Header:                 header,
		Body:                   nopCloser{bytes.NewReader(rep.body)},
		Options:                in.Options,
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// TB is the part of testing.TB the stand-in uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// ContractViolations returns every request and response seen so far that did
// broke the contract, oldest first.
func (s *Server) ContractViolations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Violation(nil), s.violations...)
}

// CheckContract fails t for every response of the stand-in that broke the
// contract. Request violations are the client's doing and are left to the
// test, which can read them from ContractViolations.
func (s *Server) CheckContract(t TB) {
	t.Helper()
	for _, v := range s.ContractViolations() {
		if v.Side == sideResponse {
			t.Errorf("keptn stand-in broke the Keptn API contract: %s", v)
		}
	}
}

const (
	sideRequest  = "request"
	sideResponse = "response"
)

func (s *Server) recordViolation(side string, r *http.Request, status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, Violation{
		Time:   time.Now(),
		Side:   side,
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Status: status,
		Err:    errorText(err),
	})
}

func errorText(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) == 1 {
		return me[0].Error()
	}
	return err.Error()
}
