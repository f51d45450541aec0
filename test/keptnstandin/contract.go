package keptnstandin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// The two Keptn documents the stand-in answers for. Both are swagger 2.0 with
// basePath /v1; a route's template is looked up in the document of its service.
const (
	apiServiceDoc      = "api-service.swagger.yaml"
	resourceServiceDoc = "resource-service.swagger.generated.yaml"
)

// contract holds Keptn's OpenAPI documents, converted to OpenAPI 3 so that
// openapi3filter can check requests and responses against them.
type contract struct {
	api      *openapi3.T
	resource *openapi3.T
}

// Violation is one request or response that did not match Keptn's OpenAPI
// documents.
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

// defaultOpenAPIDir finds ../shared/reference/keptn/openapi relative to the
// repository root, the first directory at or above the working directory that
// holds test/go.mod. Tests run in their package directory, so walking up is the
// only way that works from every package of the test module.
func defaultOpenAPIDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the OpenAPI documents: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "test", "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference", "keptn", "openapi"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("finding the OpenAPI documents: no directory at or above %s holds test/go.mod; pass WithOpenAPIDir", wd)
		}
	}
}

// Converted documents are cached per directory: converting takes longer than
// most tests, and validation never writes to a document.
var contractCache sync.Map // dir -> *contract

func loadContract(dir string) (*contract, error) {
	if c, ok := contractCache.Load(dir); ok {
		return c.(*contract), nil
	}
	api, err := loadSwagger2(filepath.Join(dir, apiServiceDoc))
	if err != nil {
		return nil, err
	}
	resource, err := loadSwagger2(filepath.Join(dir, resourceServiceDoc))
	if err != nil {
		return nil, err
	}
	c, _ := contractCache.LoadOrStore(dir, &contract{api: api, resource: resource})
	return c.(*contract), nil
}

func loadSwagger2(path string) (*openapi3.T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading OpenAPI document: %w", err)
	}
	var doc2 openapi2.T
	if err := openapi2.UnmarshalFromData(data, &doc2); err != nil {
		return nil, fmt.Errorf("parsing OpenAPI document %s: %w", path, err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("converting OpenAPI document %s to OpenAPI 3: %w", path, err)
	}
	// No doc3.Validate: the generated resource-service document declares
	// PUT /project/{projectName} without its path parameter (a slip in
	// Keptn's swag annotations), which Validate rejects. The stand-in does
	// not serve that route; the refs it needs must resolve, though.
	if err := openapi3.NewLoader().ResolveRefsIn(doc3, nil); err != nil {
		return nil, fmt.Errorf("resolving references in OpenAPI document %s: %w", path, err)
	}
	return doc3, nil
}

// requestInput is a routed request, ready for openapi3filter.
type requestInput = *openapi3filter.RequestValidationInput

// input builds what openapi3filter needs for a routed request. Routing is ours,
// not kin-openapi's: its routers match the decoded path, in which Keptn's
// escaped resourceURI (job%2Fconfig.yaml) would be two segments.
func (c *contract) input(r *http.Request, rt route) (requestInput, error) {
	doc := c.resource
	if rt.op == opPostEvent {
		doc = c.api
	}
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

// validateResponse checks an answer of the stand-in. Statuses the document
// does not list (the resource-service's 404, the api-service's 401) pass, as
// openapi3filter does by default: the generated documents omit them although
// Keptn answers them.
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
// not match Keptn's OpenAPI documents, oldest first.
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
			t.Errorf("keptn stand-in broke the OpenAPI contract: %s", v)
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
